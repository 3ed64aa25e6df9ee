// The environment tools: request, list, describe, exec, snapshot, rollback, release. Each goes
// through the SandboxService (decided, recorded, then done) with the agent as the actor; snapshot and
// rollback use the runner directly, as the service has no such command yet, and record their own events.
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { join } from "node:path"
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, Either } from "effect"
import { agentStream, WorkspaceRolledBack, WorkspaceSnapshotted } from "../../domain/events/agent-events.js"
import type { SandboxView } from "../../projections/sandboxes.js"
import { findTemplate, loadTemplates } from "../config/load-templates.js"
import { fromRunnerHandle, sandboxDirs } from "../sandbox/mapping.js"
import { recordBaseline } from "./workspace-tools.js"
import type { ToolDeps } from "./tool-deps.js"
import { agentActor, findOwn, fromServiceError, ownEnvironments, ToolFailed, ToolRefused, type ToolContext } from "./tool-context.js"
import type { ToolInput, ToolOutput } from "./tool-schemas.js"

const DEFAULT_TIMEOUT_SECONDS = 300
const MAX_OUTPUT_BYTES = 256 * 1024

export const constraintsOf = (view: SandboxView): ToolOutput<"request_environment">["constraints"] => ({
  limits: { cpu_cores: view.resources.cpu_cores, memory_mb: view.resources.memory_mb, pids: view.resources.pids, ...(view.resources.disk_gb !== undefined ? { disk_gb: view.resources.disk_gb } : {}) },
  network: { mode: view.network.mode, ...(view.network.allowlist !== undefined ? { allowlist: view.network.allowlist.map((e) => ({ host: e.host, ...(e.port !== undefined ? { port: e.port } : {}) })) } : {}) },
  policy: view.policy,
  expires_at: view.expiresAt,
  workspace: "/workspace"
})

const summaryOf = (view: SandboxView) => ({ id: view.id, name: view.name, state: view.state, template: view.template, created_at: view.createdAt })

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

export const environmentTools = (deps: ToolDeps) => {
  const { service, ledger, runner } = deps
  const own = (ctx: ToolContext, ref: string, options: { readonly released?: boolean } = {}) => findOwn(service, ledger.writerId, ctx, ref, options)
  const fromService = Effect.mapError(fromServiceError)

  const record = (ctx: ToolContext, event: { readonly type: string; readonly sensitive: ReadonlyArray<string> }, data: Record<string, unknown>) =>
    ledger
      .append(agentStream(ctx.caller.agent.id), [{ type: event.type, data, sensitive: event.sensitive }], { actor: agentActor(ctx.caller.agent), correlation: ctx.call.callId })
      .pipe(fromService)

  const request_environment = (input: ToolInput<"request_environment">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const { agent } = ctx.caller
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
          agentActor(ctx.caller.agent)
        )
        .pipe(fromService)
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

  /** The runner's handle of a sandbox whose workspace still exists. */
  const handleFor = (view: SandboxView) =>
    Effect.gen(function* () {
      if (!runner.capabilities.snapshot) return yield* new ToolRefused({ reason: `snapshots are not supported yet by the ${runner.kind} runner` })
      if (view.state === "requested" || view.state === "provisioning") return yield* new ToolRefused({ reason: `the environment is still starting (${view.state})` })
      const handle = fromRunnerHandle(view.handle)
      if (handle === null) return yield* new ToolFailed({ reason: "the ledger holds no usable runner handle for this environment" })
      return handle
    })

  const snapshotsDir = (sandboxId: string) => join(sandboxDirs(deps.dataDir, sandboxId).root, "snapshots")

  const snapshot = (input: ToolInput<"snapshot">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const view = yield* own(ctx, input.environment)
      const handle = yield* handleFor(view)
      const snapshotId = `snap-${randomBytes(6).toString("hex")}`
      const dir = join(snapshotsDir(view.id), snapshotId)
      yield* Effect.sync(() => fs.mkdirSync(snapshotsDir(view.id), { recursive: true, mode: 0o700 }))
      const { contentHash } = yield* runner.snapshot(handle, dir).pipe(Effect.mapError((e) => new ToolFailed({ reason: `snapshot failed: ${e.message}` })))
      const [recorded] = yield* record(ctx, WorkspaceSnapshotted, { sandboxId: view.id, snapshotId, contentHash })
      return { snapshot_id: snapshotId, content_hash: contentHash, created_at: recorded?.at ?? new Date().toISOString() }
    })

  const rollback = (input: ToolInput<"rollback">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const view = yield* own(ctx, input.environment)
      const handle = yield* handleFor(view)
      const dir = join(snapshotsDir(view.id), input.snapshot_id)
      if (!fs.existsSync(dir)) return yield* new ToolRefused({ reason: `no snapshot '${input.snapshot_id}' of this environment` })
      yield* runner.restore(handle, dir).pipe(Effect.mapError((e) => new ToolFailed({ reason: `rollback failed: ${e.message}` })))
      yield* record(ctx, WorkspaceRolledBack, { sandboxId: view.id, snapshotId: input.snapshot_id })
      return { snapshot_id: input.snapshot_id, restored: true as const }
    })

  return { request_environment, list_environments, describe_environment, exec, release_environment, snapshot, rollback }
}
