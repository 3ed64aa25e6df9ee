// The environment tools: request, list, describe, exec, snapshot, rollback, release. Each goes
// through the SandboxService (decided, recorded, then done) with the agent as the actor; snapshot and
// rollback share the operator verbs' module (../sandbox/snapshots.ts) and record on the agent's stream.
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, Either } from "effect"
import { agentStream } from "../../domain/events/agent-events.js"
import type { SandboxView } from "../../projections/sandboxes.js"
import { findTemplate, loadTemplates } from "../config/load-templates.js"
import { makeSnapshots, type SnapshotError } from "../sandbox/snapshots.js"
import { toolCalledParts } from "./call-audit.js"
import { makePolicyGate } from "./policy-gate.js"
import { recordBaseline } from "./workspace-tools.js"
import type { ToolDeps } from "./tool-deps.js"
import { agentActor, findOwn, fromServiceError, ownEnvironments, ToolFailed, ToolRefused, type ToolContext } from "./tool-context.js"
import type { ToolInput, ToolOutput } from "./tool-schemas.js"

const DEFAULT_TIMEOUT_SECONDS = 300
const MAX_OUTPUT_BYTES = 256 * 1024

export const constraintsOf = (view: SandboxView): ToolOutput<"request_environment">["constraints"] => ({
  limits: {
    cpu_cores: view.resources.cpu_cores,
    memory_mb: view.resources.memory_mb,
    pids: view.resources.pids,
    ...(view.resources.disk_gb !== undefined ? { disk_gb: view.resources.disk_gb } : {}),
    ...(view.resources.file_handles !== undefined ? { file_handles: view.resources.file_handles } : {}),
    ...(view.resources.network_mbps !== undefined ? { network_mbps: view.resources.network_mbps } : {})
  },
  network: { mode: view.network.mode, ...(view.network.allowlist !== undefined ? { allowlist: view.network.allowlist.map((e) => ({ host: e.host, ...(e.port !== undefined ? { port: e.port } : {}) })) } : {}) },
  policy: view.policy,
  expires_at: view.expiresAt,
  workspace: "/workspace"
})

const summaryOf = (view: SandboxView) => ({ id: view.id, name: view.name, state: view.state, template: view.template, created_at: view.createdAt })

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

export const environmentTools = (deps: ToolDeps) => {
  const { service, ledger } = deps
  const snapshots = makeSnapshots(deps)
  const gate = makePolicyGate(deps)
  const own = (ctx: ToolContext, ref: string, options: { readonly released?: boolean } = {}) => findOwn(service, ledger.writerId, ctx, ref, options)
  const fromService = Effect.mapError(fromServiceError)

  const request_environment = (input: ToolInput<"request_environment">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const { agent } = ctx.caller
      yield* gate.require(ctx, "can_create", null)
      if (agent.policy !== null && input.policy !== undefined && input.policy !== agent.policy)
        return yield* new ToolRefused({ reason: `agent '${agent.id}' is bound to policy '${agent.policy}'; it cannot ask for '${input.policy}'` })
      const catalog = yield* loadTemplates({ userDir: deps.config.environments.templates_dir }).pipe(
        Effect.provide(NodeFileSystem.layer),
        Effect.mapError((e) => new ToolFailed({ reason: `templates unreadable: ${e.message}` }))
      )
      const found = findTemplate(catalog, input.template)
      if (Either.isLeft(found)) return yield* new ToolRefused({ reason: found.left.message })
      const policy = input.policy ?? agent.policy
      const view = yield* service
        .launch({ template: found.right.template, name: input.name, actor: agentActor(agent), agent: agent.id, ...(policy !== null ? { policy } : {}) })
        .pipe(
          Effect.tapError((e) => Effect.sync(() => e._tag === "SandboxOperationFailed" && (ctx.call.sandboxId = e.sandboxId))),
          fromService
        )
      ctx.call.sandboxId = view.id
      yield* recordBaseline(deps, view.id)
      return { id: view.id, name: view.name, state: view.state, constraints: constraintsOf(view) }
    })

  const list_environments = (input: ToolInput<"list_environments">, ctx: ToolContext) =>
    Effect.map(ownEnvironments(service, ctx.caller.agent.id, input.include_released === true), (views) => ({ environments: views.map(summaryOf) }))

  const describe_environment = (input: ToolInput<"describe_environment">, ctx: ToolContext) =>
    Effect.map(own(ctx, input.environment), (view) => ({
      ...summaryOf(view),
      runner: view.runner,
      constraints: constraintsOf(view),
      exec_count: view.execCount,
      running_execs: view.runningExecs,
      stop_reason: view.stopReason,
      failure: view.failure
    }))

  const exec = (input: ToolInput<"exec">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const view = yield* own(ctx, input.environment)
      yield* gate.require(ctx, "can_exec", view)
      const out = yield* service
        .exec(
          view.id,
          {
            argv: input.argv,
            ...(input.cwd !== undefined ? { cwd: input.cwd } : {}),
            ...(input.stdin !== undefined ? { stdin: Buffer.from(input.stdin, "utf8") } : {}),
            timeoutMs: Math.ceil((input.timeout_seconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000),
            maxOutputBytes: MAX_OUTPUT_BYTES
          },
          agentActor(ctx.caller.agent),
          // the call's ToolCalled goes in CommandExecuted's batch: one durable commit fewer per exec
          { trailer: () => toolCalledParts(ctx.caller, ctx.call, "ok", null) }
        )
        .pipe(fromService)
      ctx.call.recorded = true
      return {
        exit_code: out.exitCode,
        signal: out.signal,
        stdout: text(out.stdout),
        stderr: text(out.stderr),
        stdout_truncated: out.stdoutRef.truncated,
        stderr_truncated: out.stderrRef.truncated,
        timed_out: out.timedOut,
        oom_killed: out.oomKilled,
        duration_ms: out.durationMs
      }
    })

  const release_environment = (input: ToolInput<"release_environment">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const view = yield* own(ctx, input.environment)
      const actor = agentActor(ctx.caller.agent)
      if (view.state === "running" || view.state === "paused") yield* service.stop(view.id, `released by agent ${ctx.caller.agent.id}`, actor).pipe(fromService)
      const done = yield* service.destroy(view.id, actor).pipe(fromService)
      return { id: done.id, name: done.name, state: done.state }
    })

  const snapshotError = (e: SnapshotError) =>
    e._tag === "SnapshotRefused" ? new ToolRefused({ reason: e.message }) : e._tag === "SnapshotFailed" ? new ToolFailed({ reason: e.message }) : fromServiceError(e)
  const agentRecording = (ctx: ToolContext) => ({ stream: agentStream(ctx.caller.agent.id), actor: agentActor(ctx.caller.agent), correlation: ctx.call.callId })

  const snapshot = (input: ToolInput<"snapshot">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const view = yield* own(ctx, input.environment)
      yield* gate.require(ctx, "can_exec", view)
      const taken = yield* snapshots.take(view, agentRecording(ctx)).pipe(Effect.mapError(snapshotError))
      return { snapshot_id: taken.snapshotId, content_hash: taken.contentHash, created_at: taken.createdAt }
    })

  const rollback = (input: ToolInput<"rollback">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const view = yield* own(ctx, input.environment)
      yield* gate.require(ctx, "can_exec", view)
      const done = yield* snapshots.rollback(view, input.snapshot_id, agentRecording(ctx)).pipe(Effect.mapError(snapshotError))
      return { snapshot_id: done.snapshotId, restored: true as const }
    })

  return { request_environment, list_environments, describe_environment, exec, release_environment, snapshot, rollback }
}
