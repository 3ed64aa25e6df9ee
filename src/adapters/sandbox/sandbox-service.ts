// The sandbox service the daemon calls: each operation is decided by the Sandbox aggregate, appended
// to the ledger, and only then carried out by the runner, whose result is recorded in turn (an exec's
// runner may prepare the command while its CommandStarted is appended, but runs nothing of it before
// that record is durable: RunnerExecOptions.admit). Refused commands are recorded as CommandRejected.
// Operations on one sandbox are serialized by its own semaphore; the stream revision from the
// sandboxes projection guards every append.
import { randomBytes, randomUUID } from "node:crypto"
import * as fs from "node:fs"
import { Clock, Effect, Either, Exit, Fiber, HashMap, Layer, Option, Ref, Stream } from "effect"
import { sensitiveFields } from "../../domain/events/catalogue.js"
import { CommandRejected, hostStream } from "../../domain/events/command-rejected.js"
import type { Actor, LedgerRecord } from "../../domain/ledger/record.js"
import { PolicyRefused, SandboxNotFound, type SandboxRejection } from "../../domain/sandbox/rejections.js"
import type { EffectivePolicy } from "../../domain/policy/resolve.js"
import { lookupPolicy } from "../enforcement/policy-lookup.js"
import type { SandboxCommand } from "../../domain/sandbox/sandbox-commands.js"
import { sandboxStream, type FailedOperation, type SandboxEvent } from "../../domain/sandbox/sandbox-events.js"
import { decide, initialState, type Sandbox } from "../../domain/sandbox/sandbox.js"
import {
  applyRecord,
  findSandbox,
  foldSandboxes,
  listSandboxes,
  namesInUse,
  viewOf,
  type SandboxEntry,
  type SandboxView
} from "../../projections/sandboxes.js"
import { InvalidHandle, type RunnerError } from "../../runners/errors.js"
import { Runner, type SandboxHandle } from "../../runners/runner.js"
import { blobsDir, makeBlobStore } from "../blobs/blob-store.js"
import { Ledger, type AppendPart } from "../ledger/ledger.js"
import { EventStore } from "../store/event-store.js"
import { fromRunnerHandle, meansGone, sandboxDirs, sandboxSpec, toRunnerHandle } from "./mapping.js"
import { reconcileSandboxes } from "./reconcile.js"
import { noHooks, SandboxHooks } from "./sandbox-hooks.js"

import {
  DAEMON,
  SandboxOperationFailed,
  SandboxService,
  type ExecInput,
  type ExecOptions,
  type ExecOutcome,
  type LaunchRequest,
  type ReconcileReport,
  type SandboxServiceOptions,
  type SandboxServiceShape
} from "./service-contract.js"

export * from "./service-contract.js"

const SANDBOX_STREAM = /^sandbox-/

export const make = (options: SandboxServiceOptions) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    const store = yield* EventStore
    const runner = yield* Runner
    const hooks = Option.getOrElse(yield* Effect.serviceOption(SandboxHooks), () => noHooks)
    const blobs = makeBlobStore(blobsDir(options.dataDir))
    const initial = yield* foldSandboxes(store.readAll().pipe(Stream.map((s) => s.record), Stream.filter((r) => SANDBOX_STREAM.test(r.stream))))
    const modelRef = yield* Ref.make(initial)
    const launches = yield* Effect.makeSemaphore(1)
    const locks = new Map<string, Effect.Semaphore>()
    /** The effective policy of each sandbox this daemon launched or has looked up since it started. */
    const policies = new Map<string, EffectivePolicy>()
    // A free lock (nearly always) is taken without suspending the fiber: withPermits suspends it even
    // then, and whatever else was queued ran in the middle of each exec's last steps (timing marks:
    // 0.1-0.17 ms between the runner's result and the ledger append). A held one is waited for.
    const serialized = (sandboxId: string) => {
      let lock = locks.get(sandboxId)
      if (lock === undefined) locks.set(sandboxId, (lock = Effect.unsafeMakeSemaphore(1)))
      const held = lock
      return <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
        Effect.flatMap(held.withPermitsIfAvailable(1)(effect), Option.match({ onSome: Effect.succeed, onNone: () => held.withPermits(1)(effect) }))
    }

    /** Folds appended (or read) records into the model; `events` are their events as decided, when known. */
    const apply = (records: ReadonlyArray<LedgerRecord>, events?: ReadonlyArray<SandboxEvent>) =>
      Ref.update(modelRef, (model) => records.reduce((m, record, i) => applyRecord(m, record, events?.[i]), model))
    const entryOf = (sandboxId: string) => Effect.map(Ref.get(modelRef), (model) => HashMap.unsafeGet(model.sandboxes, sandboxId))
    const viewById = (sandboxId: string) => Effect.map(entryOf(sandboxId), (entry) => viewOf(entry)!)
    /** The sandbox once requested; every caller has seen its SandboxRequested first. */
    const requestedState = (sandboxId: string) =>
      Effect.flatMap(entryOf(sandboxId), ({ state }) => (state.lifecycle === "initial" ? Effect.dieMessage(`sandbox ${sandboxId} has no SandboxRequested`) : Effect.succeed(state)))
    const now = Clock.currentTimeMillis.pipe(Effect.map(Number))

    /** Catches the model up with the store after another appender moved a stream. */
    const refresh = (sandboxId: string, after: number) =>
      Stream.runForEach(store.readStream(sandboxStream(sandboxId), after + 1), ({ record }) => apply([record]))

    interface CommandContext {
      readonly actor: Actor
      readonly correlation: string
      readonly causation?: string | null
    }

    const reject = (stream: string, command: string, target: string | null, sandboxId: string | null, rejection: SandboxRejection, input: unknown, ctx: CommandContext) =>
      Effect.gen(function* () {
        const { _tag, reason } = rejection
        const records = yield* ledger.append(
          stream,
          [{ type: CommandRejected.type, data: { command, target, sandboxId, rejection: _tag, reason, input }, sensitive: CommandRejected.sensitive }],
          { actor: ctx.actor, correlation: ctx.correlation, causation: ctx.causation ?? null }
        )
        yield* apply(records)
        return yield* Effect.fail(rejection)
      })

    /** decide → append at the expected revision → fold into the model; a refusal is recorded and failed with. */
    const transact = (
      sandboxId: string,
      command: (at: number, entry: SandboxEntry) => SandboxCommand,
      ctx: CommandContext & { readonly target?: string; readonly input?: unknown; readonly trailer?: (() => ReadonlyArray<AppendPart>) | undefined }
    ) =>
      Effect.gen(function* () {
        for (let attempt = 0; ; attempt++) {
          const entry = yield* entryOf(sandboxId)
          const cmd = command(yield* now, entry)
          const decision = decide(cmd, entry.state)
          if (Either.isLeft(decision)) {
            return yield* reject(sandboxStream(sandboxId), cmd._tag, ctx.target ?? sandboxId, sandboxId, decision.left, ctx.input ?? null, ctx)
          }
          if (decision.right.length === 0) return []
          const events = decision.right.map((e) => ({ type: e.type, data: e.data, sensitive: sensitiveFields(e.type) }))
          const options = { actor: ctx.actor, expected: entry.revision, correlation: ctx.correlation, causation: ctx.causation ?? null }
          const appended = yield* Effect.either(
            ctx.trailer === undefined
              ? ledger.append(sandboxStream(sandboxId), events, options)
              : Effect.map(ledger.appendAll([{ stream: sandboxStream(sandboxId), events, options }, ...ctx.trailer()]), (parts) => parts[0]!)
          )
          if (Either.isRight(appended)) {
            yield* apply(appended.right, decision.right)
            return appended.right
          }
          if (appended.left._tag !== "WrongExpectedRevision" || attempt >= 2) return yield* Effect.fail(appended.left)
          yield* refresh(sandboxId, entry.revision)
        }
      })

    /** The sandbox a caller names, or a recorded SandboxNotFound. */
    const resolve = (target: string, command: string, input: unknown, ctx: CommandContext) =>
      Effect.gen(function* () {
        const entry = findSandbox(yield* Ref.get(modelRef), target)
        if (entry !== undefined && entry.state.lifecycle !== "initial") return entry.state
        const valid = /^[a-z0-9][a-z0-9-]{0,62}$/.test(target) || /^[a-z0-9-]{1,64}$/.test(target)
        const reason = valid ? `no sandbox named or with id '${target}'` : `no sandbox named or with id '${target}' (not a valid sandbox name)`
        return yield* reject(hostStream(ledger.writerId), command, target, null, new SandboxNotFound({ target, reason }), input, ctx)
      })

    const handleOf = (sandbox: Sandbox): SandboxHandle | null => fromRunnerHandle(sandbox.handle)

    /** Records what a runner failure means: found dead, or failed with the runner's message. */
    const recordRunnerFailure = (sandboxId: string, operation: FailedOperation, error: RunnerError, ctx: CommandContext) =>
      Effect.gen(function* () {
        const { state } = yield* entryOf(sandboxId)
        const live = state.lifecycle === "provisioning" || state.lifecycle === "running" || state.lifecycle === "paused"
        if (live && meansGone(error)) yield* transact(sandboxId, (at) => ({ _tag: "MarkDead", reason: error.message, at }), ctx)
        else if (state.lifecycle !== "destroyed" && state.lifecycle !== "failed") {
          yield* transact(sandboxId, (at) => ({ _tag: "RecordFailed", operation, reason: error.message, at }), ctx)
          // Its monitors and policy enforcement stop below, so a sandbox that was live is stopped too:
          // nothing of a failed sandbox runs on unwatched (fail closed).
          const handle = live ? handleOf(state) : null
          if (handle !== null) yield* runner.stop(handle).pipe(Effect.ignore)
        }
        yield* hooks.ended(sandboxId, `${operation} failed: ${error.message}`)
        return yield* new SandboxOperationFailed({ sandboxId, operation, reason: error.message })
      })

    /** The sandbox's policy: as launched by this daemon, else looked up by name (after a daemon restart). */
    const policyOf = (sandbox: Sandbox) =>
      Effect.gen(function* () {
        const known = policies.get(sandbox.sandboxId)
        if (known !== undefined) return known
        const found = yield* lookupPolicy(store, sandbox.policy).pipe(Effect.orElseSucceed(() => null))
        if (found === null || Either.isLeft(found)) return null
        policies.set(sandbox.sandboxId, found.right)
        return found.right
      })

    /** A sandbox whose policy cannot be resolved runs nothing (fail closed); the refusal is recorded. */
    const requirePolicy = (sandbox: Sandbox, command: string, input: unknown, ctx: CommandContext) =>
      Effect.flatMap(policyOf(sandbox), (policy) =>
        policy !== null
          ? Effect.succeed(policy)
          : reject(sandboxStream(sandbox.sandboxId), command, sandbox.name, sandbox.sandboxId, new PolicyRefused({ policy: sandbox.policy, rule: "policy", reason: `policy '${sandbox.policy}' of sandbox ${sandbox.name} cannot be resolved; nothing runs under an unknown policy` }), input, ctx)
      )

    const commandContext = (actor: Actor): CommandContext => ({ actor, correlation: randomUUID() })

    const launch = (request: LaunchRequest) =>
      Effect.gen(function* () {
        const ctx = commandContext(request.actor)
        const sandboxId = randomBytes(8).toString("hex")
        const { template } = request
        const env = request.env ?? {}
        const input = { name: request.name, template: template.name, resources: request.resources ?? template.resources, network: request.network ?? template.network, policy: request.policy ?? template.default_policy, agent: request.agent ?? null }
        return yield* serialized(sandboxId)(Effect.gen(function* () {
          const requested = yield* launches.withPermits(1)(Effect.gen(function* () {
            const resolved = yield* lookupPolicy(store, input.policy).pipe(Effect.orElseSucceed(() => null))
            if (resolved === null || Either.isLeft(resolved)) {
              const reason = resolved === null ? `policy '${input.policy}' could not be read from the store` : resolved.left.message
              return yield* reject(hostStream(ledger.writerId), "Launch", request.name, null, new PolicyRefused({ policy: input.policy, rule: "policy", reason }), { ...input, env }, ctx)
            }
            const at = yield* now
            const decision = decide({
              _tag: "Launch",
              sandboxId,
              name: request.name,
              template,
              resources: input.resources,
              network: input.network,
              policy: input.policy,
              owner: request.actor,
              agent: input.agent,
              env,
              namesInUse: namesInUse(yield* Ref.get(modelRef)),
              runners: runner.kinds ?? [runner.kind],
              security: options.security,
              effectivePolicy: resolved.right,
              at
            }, initialState())
            if (Either.isLeft(decision)) return yield* reject(hostStream(ledger.writerId), "Launch", request.name, null, decision.left, { ...input, env }, ctx)
            const events = decision.right.map((e) => ({ type: e.type, data: e.data, sensitive: sensitiveFields(e.type) }))
            const records = yield* ledger.append(sandboxStream(sandboxId), events, { actor: ctx.actor, expected: "no_stream", correlation: ctx.correlation })
            yield* apply(records)
            policies.set(sandboxId, resolved.right)
            return records[0]!
          }))
          const spec = sandboxSpec(options.dataDir, yield* requestedState(sandboxId), env)
          const created = yield* Effect.either(runner.create(spec))
          if (Either.isLeft(created)) return yield* recordRunnerFailure(sandboxId, "launch", created.left, { ...ctx, causation: requested.id })
          const [provisioned] = yield* transact(sandboxId, (at) => ({ _tag: "RecordProvisioned", handle: toRunnerHandle(created.right), at }), { ...ctx, causation: requested.id })
          const started = yield* Effect.either(runner.start(created.right))
          if (Either.isLeft(started)) return yield* recordRunnerFailure(sandboxId, "launch", started.left, { ...ctx, causation: provisioned?.id ?? null })
          yield* transact(sandboxId, (at) => ({ _tag: "RecordStarted", handle: toRunnerHandle(started.right), at }), { ...ctx, causation: provisioned?.id ?? null })
          const view = yield* viewById(sandboxId)
          yield* hooks.running(view, started.right, { restarted: false })
          return view
        }))
      })

    const exec = (target: string, request: ExecInput, actor: Actor, options: ExecOptions = {}) =>
      Effect.gen(function* () {
        const ctx = commandContext(actor)
        const input = { argv: request.argv, cwd: request.cwd ?? null, env: request.env ?? {}, stdinBytes: request.stdin?.byteLength ?? null, timeoutMs: request.timeoutMs ?? null }
        const sandbox = yield* resolve(target, "Exec", input, ctx)
        const { sandboxId } = sandbox
        const execId = randomUUID()
        const effectivePolicy = yield* requirePolicy(sandbox, "Exec", input, ctx)
        const stdin = request.stdin === undefined ? null : yield* blobs.put(request.stdin)
        const handle = handleOf(yield* requestedState(sandboxId))
        // The intent (CommandStarted) is appended while the runner prepares the command; the runner
        // lets nothing of it run before the record is durable (`admit`), and withdraws it on a refusal.
        const intent = yield* Effect.fork(
          serialized(sandboxId)(
            transact(sandboxId, (at) => ({ _tag: "Exec", execId, argv: request.argv, cwd: input.cwd, env: input.env, stdin, timeoutMs: input.timeoutMs, effectivePolicy, at }), { ...ctx, target, input })
          )
        )
        const admit = Effect.map(Fiber.await(intent), Exit.isSuccess)
        const result = handle === null
          ? Either.left<RunnerError>(new InvalidHandle({ id: sandboxId, reason: "the ledger holds no usable runner handle" }))
          : yield* Effect.either(runner.exec(handle, request, { admit }))
        // a refused intent (or a failed append) is the call's failure; the runner was told no
        const [started] = yield* Fiber.join(intent)
        const after = { ...ctx, causation: started?.id ?? null }
        if (Either.isLeft(result)) {
          const error = result.left
          return yield* serialized(sandboxId)(Effect.gen(function* () {
            yield* transact(sandboxId, (at) => ({ _tag: "RecordExecFailed", execId, reason: error.message, at }), after)
            // A request the runner cannot run (e.g. an empty argv) is the caller's mistake, not the sandbox's;
            // a pause that came between the exec's intent and its start fails the exec, and the sandbox
            // stays as the pause left it (resumable), watched.
            if (error._tag === "InvalidExecRequest" || (error._tag === "SandboxStateConflict" && error.state === "paused"))
              return yield* new SandboxOperationFailed({ sandboxId, operation: "exec", reason: error.message })
            return yield* recordRunnerFailure(sandboxId, "exec", error, after)
          }))
        }
        const out = result.right
        const stdoutRef = { ...(yield* blobs.put(out.stdout)), truncated: out.stdoutTruncated }
        const stderrRef = { ...(yield* blobs.put(out.stderr)), truncated: out.stderrTruncated }
        // the runner's own reading after the command, else (a runner that gives none) a status call
        const counters = out.counters ?? (handle === null ? null : Either.getOrNull(yield* Effect.either(runner.status(handle))))
        const records = yield* serialized(sandboxId)(
          transact(sandboxId, (at) => ({
            _tag: "RecordExecuted",
            execId,
            exitCode: out.exitCode,
            signal: out.signal,
            durationMs: out.durationMs,
            timedOut: out.timedOut,
            oomKilled: out.oomKilled,
            stdout: stdoutRef,
            stderr: stderrRef,
            counters: counters === null ? null : { oomKills: counters.oomKills, pidsLimitHits: counters.pidsLimitHits },
            ...(out.runnerMs !== undefined ? { runnerMs: out.runnerMs } : {}),
            at
          }), { ...after, trailer: options.trailer })
        )
        const executed = records.find((r) => r.type === "CommandExecuted")!
        return {
          sandboxId,
          execId,
          recordId: executed.id,
          exitCode: out.exitCode,
          signal: out.signal,
          stdout: out.stdout,
          stderr: out.stderr,
          stdoutRef,
          stderrRef,
          durationMs: out.durationMs,
          timedOut: out.timedOut,
          oomKilled: out.oomKilled,
          limitsHit: records.filter((r) => r.type === "ResourceLimitHit").map((r) => r.data["kind"] as "memory" | "pids")
        } satisfies ExecOutcome
      })

    /** Pause, resume, stop: record, then have the runner do it. */
    const lifecycleOperation = (
      target: string,
      actor: Actor,
      name: "Pause" | "Resume" | "Stop",
      input: Readonly<Record<string, unknown>>,
      command: (at: number) => SandboxCommand,
      operation: FailedOperation,
      effect: (handle: SandboxHandle) => Effect.Effect<void, RunnerError>
    ) =>
      Effect.gen(function* () {
        const ctx = commandContext(actor)
        const { sandboxId } = yield* resolve(target, name, input, ctx)
        return yield* serialized(sandboxId)(Effect.gen(function* () {
          const [record] = yield* transact(sandboxId, command, { ...ctx, target, input })
          const handle = handleOf(yield* requestedState(sandboxId))
          if (handle !== null) {
            const done = yield* Effect.either(effect(handle))
            if (Either.isLeft(done)) {
              // A sandbox the runner could not pause or resume is not left running unwatched.
              if (operation !== "stop" && !meansGone(done.left)) yield* runner.stop(handle).pipe(Effect.ignore)
              return yield* recordRunnerFailure(sandboxId, operation, done.left, { ...ctx, causation: record?.id ?? null })
            }
          }
          if (operation === "stop") yield* hooks.ended(sandboxId, String(input["reason"] ?? "stopped"))
          return yield* viewById(sandboxId)
        }))
      })

    const destroy = (target: string, actor: Actor) =>
      Effect.gen(function* () {
        const ctx = commandContext(actor)
        const { sandboxId } = yield* resolve(target, "Destroy", {}, ctx)
        return yield* serialized(sandboxId)(Effect.gen(function* () {
          const handle = handleOf(yield* requestedState(sandboxId))
          yield* transact(sandboxId, (at) => ({ _tag: "Destroy", at }), { ...ctx, target, input: {} })
          if (handle !== null) {
            // Monitors end once the processes are gone and before the workspace is removed (no deletes recorded).
            yield* runner.stop(handle).pipe(Effect.ignore)
            yield* hooks.ended(sandboxId, "destroyed")
            const done = yield* Effect.either(runner.destroy(handle))
            if (Either.isLeft(done)) return yield* new SandboxOperationFailed({ sandboxId, operation: "destroy", reason: `${done.left.message} (recorded as destroyed; remove what is left by hand)` })
          }
          yield* Effect.sync(() => fs.rmSync(sandboxDirs(options.dataDir, sandboxId).root, { recursive: true, force: true }))
          return yield* viewById(sandboxId)
        }))
      })

    const liveSandboxes = Effect.map(Ref.get(modelRef), (model) =>
      listSandboxes(model).filter((v) => v.state === "requested" || v.state === "provisioning" || v.state === "running" || v.state === "paused")
    )

    const reconcile = (actor: Actor = DAEMON) =>
      reconcileSandboxes(
        {
          runner,
          hooks,
          live: liveSandboxes,
          serialized,
          stateOf: (sandboxId) => Effect.map(entryOf(sandboxId), (entry) => entry.state),
          viewOf: viewById,
          handleOf,
          // each command its own correlation, as when it was one step of the loop here
          record: (sandboxId, command, by) => transact(sandboxId, command, commandContext(by))
        },
        actor
      )

    const stopAll = (reason: string, actor: Actor = DAEMON) =>
      Effect.gen(function* () {
        const stopped: Array<SandboxView> = []
        for (const view of yield* liveSandboxes) {
          if (view.state !== "running" && view.state !== "paused") continue
          const result = yield* Effect.either(service.stop(view.id, reason, actor))
          if (Either.isRight(result)) stopped.push(result.right)
          else if (result.left._tag === "StoreUnavailable" || result.left._tag === "StoreCorrupt") return yield* Effect.fail(result.left)
        }
        return stopped
      })

    const service: SandboxServiceShape = {
      launch,
      exec,
      pause: (target, actor) => lifecycleOperation(target, actor, "Pause", {}, (at) => ({ _tag: "Pause", at }), "pause", runner.pause),
      resume: (target, actor) => lifecycleOperation(target, actor, "Resume", {}, (at) => ({ _tag: "Resume", at }), "resume", runner.resume),
      stop: (target, reason, actor) => lifecycleOperation(target, actor, "Stop", { reason }, (at) => ({ _tag: "Stop", reason, at }), "stop", runner.stop),
      destroy,
      list: (opts) => Effect.map(Ref.get(modelRef), (model) => listSandboxes(model, opts ?? {})),
      inspect: (target) =>
        Effect.flatMap(Ref.get(modelRef), (model) => {
          const entry = findSandbox(model, target)
          const view = entry === undefined ? null : viewOf(entry)
          return view === null ? Effect.fail(new SandboxNotFound({ target, reason: `no sandbox named or with id '${target}'` })) : Effect.succeed(view)
        }),
      readOutput: blobs.get,
      reconcile,
      stopAll,
      model: Ref.get(modelRef)
    }
    return service
  })

export const SandboxServiceLive = (options: SandboxServiceOptions) => Layer.effect(SandboxService, make(options))
