// The containerd runner: one containerd container per sandbox (the runc shim driving crun or runc, an
// image directory as read-only root, the workspace bound read-write), created and driven over
// containerd's gRPC API in its own namespace. Containers outlive the daemon that made them, so a handle
// read back after a restart finds its sandbox still running. See README.md and docs/containerd.md.
import { Effect, Either, Exit, Layer, Option, Schema } from "effect"
import type { Scope } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { DEFAULT_MAX_OUTPUT_BYTES, etcFiles, RESOLV_CONF, sandboxUser } from "../bwrap/mapping.js"
import type { SandboxUser } from "../bwrap/mapping.js"
import { chownTree, contentHash, copyTree, replaceContent } from "../bwrap/workspace-copy.js"
import { listPids, readCounters } from "../cgroups/cgroup.js"
import { sandboxCgroupPaths } from "../cgroups/layout.js"
import type { SandboxCgroupPaths } from "../cgroups/layout.js"
import {
  describeCause,
  HostUnsupported,
  InvalidHandle,
  InvalidSandboxSpec,
  LaunchFailed,
  RunnerIoFailure,
  SandboxExists,
  SandboxGone,
  SandboxStateConflict
} from "../errors.js"
import type { RunnerError } from "../errors.js"
import { decodeOncePerObject } from "../handle-state.js"
import { Runner, SandboxSpec } from "../runner.js"
import type { ExecRequest, ExecResult, RunnerExecOptions, SandboxHandle, SandboxStatus } from "../runner.js"
import { admitted } from "../admission.js"
import { applicableResources, ownOpenFilesMax } from "../open-files.js"
import { isAlreadyExists, isNotFound, isUnavailable, makeClient } from "./client.js"
import type { ContainerdCallFailed, Method, Requests } from "./client.js"
import { makeFifoPool, openExecIo } from "./exec-io.js"
import type { FifoPool } from "./exec-io.js"
import { probeHost, startHint } from "./host.js"
import type { ContainerdHost } from "./host.js"
import {
  checkSpec,
  containerMessage,
  execProcess,
  execProcessMessage,
  exitOutcome,
  GetTaskResponse,
  imageRequirements,
  ociSpec,
  RUNNER,
  sandboxEnv,
  sandboxStateOf,
  StartResponse,
  taskCreateMessage,
  WaitResponse
} from "./mapping.js"
import type { TaskStatus } from "./mapping.js"
import { EXIT_EVENT_WAIT_MS, PIPE_GRACE_MS, SIGKILL, defaultConfig, etcPaths, ioDir, type ContainerdRunnerConfig } from "./runner-config.js"
import { killSession } from "./session.js"
import { followTaskEvents } from "./task-events.js"

/** The containerd part of a handle: the spec only; paths, uid and cgroups are derived again from it. */
const ContainerdState = Schema.Struct({ spec: SandboxSpec })
type ContainerdState = Schema.Schema.Type<typeof ContainerdState>
const decodeState = decodeOncePerObject(ContainerdState)

interface Sandbox {
  readonly id: string
  readonly spec: SandboxSpec
  readonly user: SandboxUser
  readonly cgroups: SandboxCgroupPaths
}

interface Task {
  readonly status: TaskStatus
  readonly pid: number
}

const ioTry = <A>(operation: string, at: string, run: () => A) =>
  Effect.try({ try: run, catch: (cause) => new RunnerIoFailure({ path: at, operation, reason: describeCause(cause) }) })

const decode = <A, I>(schema: Schema.Schema<A, I>, method: string, socket: string) => (raw: unknown) =>
  Either.mapLeft(
    Schema.decodeUnknownEither(schema)(raw),
    (error) => new RunnerIoFailure({ path: socket, operation: `containerd ${method}`, reason: `unexpected answer: ${error.message}` })
  )

export { defaultConfig, type ContainerdRunnerConfig } from "./runner-config.js"

export const make = (overrides: Partial<ContainerdRunnerConfig> = {}): Effect.Effect<Runner, never, Scope.Scope> =>
  Effect.gen(function* () {
    const config: ContainerdRunnerConfig = { ...defaultConfig(), ...overrides }
    const filesMax = ownOpenFilesMax()
    const applicable = (resources: SandboxSpec["resources"]) => applicableResources(resources, filesMax)
    const runnerScope = yield* Effect.scope
    const client = yield* makeClient(config.socket, config.namespace)
    const events = yield* followTaskEvents(client)

    // cached once found; a failed probe is retried on the next call (containerd may have been started since)
    let found: { readonly host: ContainerdHost; readonly fifos: FifoPool } | null = null
    const probed = Effect.suspend(() =>
      found !== null
        ? Effect.succeed(found)
        : probeHost(client, config.runtime).pipe(Effect.map((h) => (found = { host: h, fifos: makeFifoPool(h.mkfifo, runnerScope) })))
    )
    const host: Effect.Effect<ContainerdHost, HostUnsupported> = Effect.map(probed, (p) => p.host)
    const fifoPool = Effect.map(probed, (p) => p.fifos)

    const asRunnerError = (error: ContainerdCallFailed): RunnerError =>
      isUnavailable(error)
        ? new HostUnsupported({ runner: RUNNER, missing: `containerd is not running: ${error.details}`, fix: startHint(config.socket) })
        : new RunnerIoFailure({ path: config.socket, operation: `containerd ${error.method}`, reason: error.details })

    const call = client.call
    const callOrFail = <M extends Method>(method: M, request: Requests[M], deadlineMs?: number | null) =>
      call(method, request, deadlineMs).pipe(Effect.mapError(asRunnerError))
    const ignoreNotFound = <A>(effect: Effect.Effect<A, ContainerdCallFailed>) =>
      effect.pipe(
        Effect.asVoid,
        Effect.catchIf(isNotFound, () => Effect.void),
        Effect.mapError(asRunnerError)
      )

    const containerExists = (id: string) =>
      call("Containers.Get", { id }).pipe(
        Effect.as(true),
        Effect.catchIf(isNotFound, () => Effect.succeed(false)),
        Effect.mapError(asRunnerError)
      )

    const taskOf = (id: string): Effect.Effect<Task | null, RunnerError> =>
      call("Tasks.Get", { container_id: id, exec_id: "" }).pipe(
        Effect.map((raw): unknown => raw),
        Effect.catchIf(isNotFound, () => Effect.succeed(null)),
        Effect.mapError(asRunnerError),
        Effect.flatMap((raw) =>
          raw === null
            ? Effect.succeed(null)
            : Effect.map(decode(GetTaskResponse, "Tasks.Get", config.socket)(raw), (answer): Task => ({ status: answer.process.status, pid: answer.process.pid }))
        )
      )

    const derive = (spec: SandboxSpec, h: ContainerdHost) => ({
      user: sandboxUser(spec.id, config.uidBase, config.uidCount),
      cgroups: sandboxCgroupPaths(h.layout, config.cgroupParent, spec.id)
    })

    const resolve = (handle: SandboxHandle): Effect.Effect<Sandbox, RunnerError> =>
      Effect.gen(function* () {
        if (handle.runner !== RUNNER) {
          return yield* Effect.fail(new InvalidHandle({ id: handle.id, reason: `it belongs to the ${handle.runner} runner` }))
        }
        const state: ContainerdState = yield* Either.mapLeft(decodeState(handle.runnerState), (error) => new InvalidHandle({ id: handle.id, reason: error.message }))
        if (state.spec.id !== handle.id) {
          return yield* Effect.fail(new InvalidHandle({ id: handle.id, reason: `its state is for sandbox ${state.spec.id}` }))
        }
        const h = yield* host
        return { id: handle.id, spec: state.spec, ...derive(state.spec, h) }
      })

    const toHandle = (spec: SandboxSpec, cgroups: SandboxCgroupPaths, pid: number | null): SandboxHandle => ({
      id: spec.id,
      runner: RUNNER,
      pid,
      cgroup: cgroups.tracking,
      runnerState: { spec }
    })

    /** The task, if it runs; the right error for every other state. */
    const requireRunning = (id: string, operation: string) =>
      Effect.gen(function* () {
        const task = yield* taskOf(id)
        if (task === null) {
          return yield* (yield* containerExists(id))
            ? Effect.fail(new SandboxStateConflict({ id, operation, state: "stopped" }))
            : Effect.fail(new SandboxGone({ id }))
        }
        const state = sandboxStateOf(task.status)
        if (state === "gone") return yield* Effect.fail(new SandboxGone({ id }))
        if (state !== "running") return yield* Effect.fail(new SandboxStateConflict({ id, operation, state }))
        return task
      })

    const create = (input: SandboxSpec): Effect.Effect<SandboxHandle, RunnerError> =>
      Effect.gen(function* () {
        const spec = yield* Schema.decodeUnknown(SandboxSpec)(input).pipe(
          Effect.mapError((error) => new InvalidSandboxSpec({ field: "spec", reason: error.message }))
        )
        yield* checkSpec(spec)
        const h = yield* host
        const image = spec.rootfs.kind === "image" ? spec.rootfs.path : "/"
        for (const needed of imageRequirements(spec.network)) {
          if (!fs.existsSync(path.join(image, needed))) {
            return yield* Effect.fail(new InvalidSandboxSpec({ field: "rootfs.path", reason: `the image at ${image} lacks /${needed}` }))
          }
        }
        const { user, cgroups } = derive(spec, h)
        if (yield* containerExists(spec.id)) {
          return yield* Effect.fail(new SandboxExists({ id: spec.id, path: `containerd ${config.namespace}/${spec.id}` }))
        }
        const etc = etcPaths(spec.stateDir)
        const files = etcFiles(spec.hostname, user)
        yield* ioTry("create state dir", spec.stateDir, () => {
          fs.mkdirSync(path.join(spec.stateDir, "etc"), { recursive: true, mode: 0o700 })
          fs.mkdirSync(ioDir(spec.stateDir), { recursive: true, mode: 0o700 })
          fs.writeFileSync(etc.passwd, files.passwd, { mode: 0o644 })
          fs.writeFileSync(etc.group, files.group, { mode: 0o644 })
          fs.writeFileSync(etc.hosts, files.hosts, { mode: 0o644 })
          fs.writeFileSync(etc.resolvConf, RESOLV_CONF, { mode: 0o644 })
        })
        yield* ioTry("create workspace", spec.workspaceDir, () => fs.mkdirSync(spec.workspaceDir, { recursive: true, mode: 0o700 }))
        yield* chownTree(spec.workspaceDir, user)
        const oci = ociSpec({ spec: { ...spec, resources: applicable(spec.resources) }, user, cgroupParent: config.cgroupParent, etc, host: h.facts })
        yield* call("Containers.Create", { container: containerMessage(spec.id, oci) }).pipe(
          Effect.mapError((error) =>
            isAlreadyExists(error) ? new SandboxExists({ id: spec.id, path: `containerd ${config.namespace}/${spec.id}` }) : asRunnerError(error)
          )
        )
        return toHandle(spec, cgroups, null)
      })

    const start = (handle: SandboxHandle): Effect.Effect<SandboxHandle, RunnerError> =>
      Effect.gen(function* () {
        const { id, spec, user, cgroups } = yield* resolve(handle)
        if (!(yield* containerExists(id))) return yield* Effect.fail(new SandboxGone({ id }))
        const stale = yield* taskOf(id)
        if (stale !== null) {
          const state = sandboxStateOf(stale.status)
          if (state === "running" || state === "paused") return yield* Effect.fail(new SandboxStateConflict({ id, operation: "start", state }))
          yield* ignoreNotFound(call("Tasks.Delete", { container_id: id }))
        }
        if (fs.statSync(spec.workspaceDir, { throwIfNoEntry: false })?.uid !== user.uid) yield* chownTree(spec.workspaceDir, user)
        const fifos = yield* fifoPool
        fifos.drop(ioDir(spec.stateDir))
        yield* ioTry("empty the io dir", ioDir(spec.stateDir), () => {
          fs.rmSync(ioDir(spec.stateDir), { recursive: true, force: true })
          fs.mkdirSync(ioDir(spec.stateDir), { mode: 0o700 })
        })
        const image = spec.rootfs.kind === "image" ? spec.rootfs.path : "/"
        const launchFailed = (error: ContainerdCallFailed) =>
          isUnavailable(error) ? asRunnerError(error) : new LaunchFailed({ id, detail: error.details })
        const { runtime } = yield* host
        yield* call("Tasks.Create", taskCreateMessage(id, image, runtime), config.startTimeoutMs).pipe(Effect.mapError(launchFailed))
        const started = yield* call("Tasks.Start", { container_id: id, exec_id: "" }, config.startTimeoutMs).pipe(
          Effect.mapError(launchFailed),
          Effect.flatMap(decode(StartResponse, "Tasks.Start", config.socket)),
          Effect.tapError(() => stopTask(id).pipe(Effect.ignore))
        )
        yield* fifos.stock(ioDir(spec.stateDir))
        return toHandle(spec, cgroups, started.pid)
      })

    const exec = (handle: SandboxHandle, request: ExecRequest, options: RunnerExecOptions = {}): Effect.Effect<ExecResult, RunnerError> =>
      Effect.scoped(
        Effect.gen(function* () {
          const called = performance.now()
          const { id, spec, user, cgroups } = yield* resolve(handle)
          const ociProcess = yield* execProcess(user, sandboxEnv(spec), request, applicable(spec.resources))
          // no status call first: a sandbox that is not running makes a step below fail, and only then we ask why
          const notRunning = (error: RunnerError) => requireRunning(id, "exec").pipe(Effect.zipRight(Effect.fail(error)))
          const fifos = yield* (yield* fifoPool).take(ioDir(spec.stateDir)).pipe(Effect.catchAll(notRunning))
          const io = yield* openExecIo(fifos, request.stdin !== undefined, request.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES)
          const execId = `exec-${randomBytes(6).toString("hex")}`
          const oomEventsBefore = events.oomCount(id)
          const oomCounterBefore = readCounters(cgroups).oomKills
          const began = performance.now()
          yield* callOrFail("Tasks.Exec", execProcessMessage(id, execId, io.stdio, ociProcess)).pipe(Effect.catchAll(notRunning))
          // the shim keeps an exited process (and waits up to 2 s for its output) until deleted: not on our path
          yield* Effect.addFinalizer(() =>
            call("Tasks.DeleteProcess", { container_id: id, exec_id: execId }).pipe(Effect.ignore, Effect.forkIn(runnerScope))
          )
          // created, not started: the caller's go (its intent made durable meanwhile) lets it start
          const waited = yield* admitted(id, options.admit)
          const { pid } = yield* callOrFail("Tasks.Start", { container_id: id, exec_id: execId }).pipe(
            Effect.catchAll(notRunning),
            Effect.flatMap(decode(StartResponse, "Tasks.Start", config.socket))
          )
          // an interrupted exec (the caller gave up) leaves nothing running behind it
          yield* Effect.addFinalizer((exit) => (Exit.isInterrupted(exit) ? killSession(cgroups, pid) : Effect.void))
          yield* io.attach(request.stdin).pipe(
            Effect.zipRight(request.stdin === undefined ? Effect.void : call("Tasks.CloseIO", { container_id: id, exec_id: execId, stdin: true })),
            Effect.ignore,
            Effect.forkScoped
          )
          const wait = callOrFail("Tasks.Wait", { container_id: id, exec_id: execId }, null).pipe(
            Effect.flatMap(decode(WaitResponse, "Tasks.Wait", config.socket))
          )
          const finished = yield* (request.timeoutMs === undefined ? Effect.map(wait, Option.some) : Effect.timeoutOption(wait, request.timeoutMs))
          const timedOut = Option.isNone(finished)
          const exited = Option.isSome(finished) ? finished.value : yield* killSession(cgroups, pid).pipe(Effect.zipRight(wait))
          const durationMs = performance.now() - began - waited
          yield* io.drain(PIPE_GRACE_MS)
          // an OOM kill is a SIGKILL: then containerd's exit event, which follows its OOM event, says whether it was one
          if (exited.exit_status === 128 + SIGKILL) yield* events.awaitExit(id, execId, EXIT_EVENT_WAIT_MS)
          const after = readCounters(cgroups)
          const oomKilled = events.oomCount(id) > oomEventsBefore || after.oomKills > oomCounterBefore
          const counters = { oomKills: after.oomKills, pidsLimitHits: after.pidsLimitHits }
          return { ...exitOutcome(exited.exit_status), ...io.output(), durationMs, timedOut, oomKilled, counters, runnerMs: performance.now() - called - waited }
        })
      )

    const setPaused = (handle: SandboxHandle, paused: boolean) =>
      Effect.gen(function* () {
        const { id } = yield* resolve(handle)
        const task = yield* taskOf(id)
        const operation = paused ? "pause" : "resume"
        if (task === null) {
          return yield* (yield* containerExists(id))
            ? Effect.fail(new SandboxStateConflict({ id, operation, state: "stopped" }))
            : Effect.fail(new SandboxGone({ id }))
        }
        const state = sandboxStateOf(task.status)
        if (state === "gone") return yield* Effect.fail(new SandboxGone({ id }))
        if (state === "stopped") return yield* Effect.fail(new SandboxStateConflict({ id, operation, state }))
        if ((state === "paused") === paused) return
        yield* callOrFail(paused ? "Tasks.Pause" : "Tasks.Resume", { container_id: id })
      })

    /** Kills every process of the container's task, waits for it and deletes it; no task is fine. */
    const stopTask = (id: string): Effect.Effect<void, RunnerError> =>
      Effect.gen(function* () {
        const task = yield* taskOf(id)
        if (task === null) return
        if (task.status !== "STOPPED") {
          const killed = yield* call("Tasks.Kill", { container_id: id, exec_id: "", signal: SIGKILL, all: true }).pipe(
            Effect.as(true),
            Effect.catchIf(isNotFound, () => Effect.succeed(false)),
            Effect.mapError(asRunnerError)
          )
          if (killed) yield* ignoreNotFound(call("Tasks.Wait", { container_id: id, exec_id: "" }, 10_000))
        }
        yield* ignoreNotFound(call("Tasks.Delete", { container_id: id }))
      })

    const stop = (handle: SandboxHandle): Effect.Effect<void, RunnerError> =>
      Effect.gen(function* () {
        const { id, spec } = yield* resolve(handle)
        yield* stopTask(id)
        events.forget(id)
        ;(yield* fifoPool).drop(ioDir(spec.stateDir))
      })

    const destroy = (handle: SandboxHandle): Effect.Effect<void, RunnerError> =>
      Effect.gen(function* () {
        const { id, spec } = yield* resolve(handle)
        yield* stopTask(id)
        yield* ignoreNotFound(call("Containers.Delete", { id }))
        events.forget(id)
        ;(yield* fifoPool).drop(ioDir(spec.stateDir))
        for (const dir of [spec.stateDir, spec.workspaceDir]) {
          yield* ioTry("remove", dir, () => fs.rmSync(dir, { recursive: true, force: true }))
        }
      })

    /** Pauses a running sandbox around `effect`, so a workspace copy sees one consistent state. */
    const whilePaused = <A>(id: string, effect: Effect.Effect<A, RunnerError>) =>
      Effect.gen(function* () {
        const task = yield* taskOf(id)
        if (task === null || task.status !== "RUNNING") return yield* effect
        return yield* Effect.acquireUseRelease(
          callOrFail("Tasks.Pause", { container_id: id }),
          () => effect,
          () => call("Tasks.Resume", { container_id: id }).pipe(Effect.ignore)
        )
      })

    const snapshot = (handle: SandboxHandle, dir: string) =>
      Effect.gen(function* () {
        const { id, spec } = yield* resolve(handle)
        if (fs.existsSync(dir)) {
          return yield* Effect.fail(new RunnerIoFailure({ path: dir, operation: "snapshot", reason: "the destination already exists" }))
        }
        yield* whilePaused(id, copyTree(spec.workspaceDir, dir, null))
        return { contentHash: yield* contentHash(dir) }
      })

    const restore = (handle: SandboxHandle, dir: string) =>
      Effect.gen(function* () {
        const { id, spec, user } = yield* resolve(handle)
        if (!fs.existsSync(dir)) return yield* Effect.fail(new RunnerIoFailure({ path: dir, operation: "restore", reason: "no such snapshot" }))
        yield* whilePaused(id, replaceContent(dir, spec.workspaceDir, user))
      })

    const status = (handle: SandboxHandle): Effect.Effect<SandboxStatus, RunnerError> =>
      Effect.gen(function* () {
        const { id, cgroups } = yield* resolve(handle)
        const nothing = { pids: [], memoryBytes: null, oomKills: 0, pidsLimitHits: 0 }
        if (!(yield* containerExists(id))) return { state: "gone", ...nothing }
        const task = yield* taskOf(id)
        if (task === null) return { state: "stopped", ...nothing }
        return { state: sandboxStateOf(task.status), pids: listPids(cgroups), ...readCounters(cgroups) }
      })

    const runner: Runner = {
      kind: RUNNER,
      capabilities: { pause: true, snapshot: true },
      create,
      start,
      exec,
      pause: (handle) => setPaused(handle, true),
      resume: (handle) => setPaused(handle, false),
      stop,
      destroy,
      snapshot,
      restore,
      status
    }
    return runner
  })

/**
 * Provides `Runner` with containerd. Closing the layer's scope closes the connection only: containers
 * keep running (that is the point), and `destroy` removes them.
 */
export const layer = (overrides: Partial<ContainerdRunnerConfig> = {}) => Layer.scoped(Runner, make(overrides))
