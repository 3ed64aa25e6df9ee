// The tools that read the ledger: an environment's audit trail (its own stream and the caller's tool
// calls and workspace events about it) and its command log. Sealed values are shown to the agent
// they belong to; runner handles (host paths) are left out.
import { Effect, Stream } from "effect"
import { agentStream } from "../../domain/events/agent-events.js"
import { unsealData, valueOr } from "../../domain/events/redactable.js"
import type { LedgerRecord } from "../../domain/ledger/record.js"
import { sandboxStream } from "../../domain/sandbox/sandbox-events.js"
import { comparePositions, type StoredRecord } from "../store/event-store.js"
import { makePolicyGate } from "./policy-gate.js"
import type { ToolDeps } from "./tool-deps.js"
import { findOwn, ToolFailed, type ToolContext } from "./tool-context.js"
import type { ToolInput, ToolOutput } from "./tool-schemas.js"

const DEFAULT_LIMIT = 500
const HANDLE_EVENTS = new Set(["SandboxProvisioned", "SandboxStarted"])

type AuditEvent = ToolOutput<"get_audit_trail">["events"][number]

const shown = (record: LedgerRecord): AuditEvent => {
  const data = unsealData(record.data)
  if (HANDLE_EVENTS.has(record.type)) data["handle"] = "(runner handle: host details left out)"
  return {
    seq: record.chain.seq,
    id: record.id,
    at: record.at,
    stream: record.stream,
    type: record.type,
    actor: record.actor,
    correlation: record.correlation,
    causation: record.causation,
    data
  }
}

export const ledgerTools = (deps: ToolDeps) => {
  const gate = makePolicyGate(deps)
  const readStream = (stream: string) =>
    Stream.runCollect(deps.store.readStream(stream)).pipe(
      Effect.map((chunk) => Array.from(chunk)),
      Effect.mapError((e) => new ToolFailed({ reason: `cannot read the ledger: ${e.message}` }))
    )

  /** Everything about one sandbox an agent may see, in ledger order. */
  const trailOf = (agentId: string, sandboxId: string) =>
    Effect.gen(function* () {
      const own = yield* readStream(sandboxStream(sandboxId))
      const calls = (yield* readStream(agentStream(agentId))).filter((s) => s.record.data["sandboxId"] === sandboxId)
      return [...own, ...calls].sort((a: StoredRecord, b: StoredRecord) => comparePositions(a.position, b.position)).map((s) => s.record)
    })

  const auditTrail = (agentId: string, sandboxId: string, limit: number, types?: ReadonlyArray<string>) =>
    Effect.map(trailOf(agentId, sandboxId), (records) => {
      const wanted = types === undefined ? records : records.filter((r) => types.includes(r.type))
      return { environment: sandboxId, events: wanted.slice(-limit).map(shown), truncated: wanted.length > limit }
    })

  /** One of the caller's environments (released ones too), if its policy lets it read audit trails. */
  const auditable = (ctx: ToolContext, ref: string) =>
    Effect.tap(findOwn(deps.service, deps.ledger.writerId, ctx, ref, { released: true }), (view) => gate.require(ctx, "can_read_audit", view))

  const get_audit_trail = (input: ToolInput<"get_audit_trail">, ctx: ToolContext) =>
    Effect.flatMap(auditable(ctx, input.environment), (view) => auditTrail(ctx.caller.agent.id, view.id, input.limit ?? DEFAULT_LIMIT, input.types))

  /** The `hydravisor://environments/{id}/audit` resource. */
  const auditResource = (ref: string, ctx: ToolContext) => Effect.flatMap(auditable(ctx, ref), (view) => auditTrail(ctx.caller.agent.id, view.id, 5000))

  const environment_log = (input: ToolInput<"environment_log">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const view = yield* findOwn(deps.service, deps.ledger.writerId, ctx, input.environment, { released: true })
      type Command = ToolOutput<"environment_log">["commands"][number]
      const commands = new Map<string, Command>()
      for (const { record } of yield* readStream(sandboxStream(view.id))) {
        const data = unsealData(record.data)
        const execId = String(data["execId"] ?? "")
        if (record.type === "CommandStarted") {
          const argv = valueOr(data["argv"] as ReadonlyArray<string>, null)
          const cwd = valueOr(data["cwd"] as string | null, null)
          commands.set(execId, {
            exec_id: execId,
            started_at: record.at,
            argv: argv === null ? null : [...argv],
            cwd,
            status: "running",
            exit_code: null,
            signal: null,
            duration_ms: null,
            timed_out: false,
            actor: record.actor
          })
        }
        const started = commands.get(execId)
        if (started === undefined) continue
        if (record.type === "CommandExecuted")
          commands.set(execId, {
            ...started,
            status: "finished",
            exit_code: (data["exitCode"] as number | null) ?? null,
            signal: (data["signal"] as string | null) ?? null,
            duration_ms: Number(data["durationMs"] ?? 0),
            timed_out: data["timedOut"] === true
          })
        if (record.type === "CommandFailed") commands.set(execId, { ...started, status: "failed" })
      }
      const all = [...commands.values()]
      const limit = input.limit ?? DEFAULT_LIMIT
      return { commands: all.slice(-limit), truncated: all.length > limit }
    })

  return { get_audit_trail, environment_log, auditResource }
}
