// The bubblewrap runner: one long-lived bwrap per sandbox whose pid 1 only waits, one cgroup per sandbox
// for limits, freeze and kill, and each exec entering the sandbox from the host (see README.md).
import { Effect, Either, Exit, Layer, Schema } from "effect"
import type { Scope } from "effect"
import type { ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import {
  createExecCgroup,
  createSandboxCgroup,
  freezeRequested,
  killAll,
  listPids,
  pidIsMember,
  pruneExecCgroups,
  readCounters,
  readLimitCounters,
  readOomKills,
  readEvents,
  releaseExecCgroup,
  removeSandboxCgroup,
  setFrozen
} from "../cgroups/cgroup.js"
import { procsFiles, sandboxCgroupPaths } from "../cgroups/layout.js"
import type { SandboxCgroupPaths } from "../cgroups/layout.js"
import {
  CgroupFailure,
  describeCause,
  InvalidHandle,
  InvalidSandboxSpec,
  RunnerIoFailure,
  SandboxGone,
  SandboxStateConflict
} from "../errors.js"
import type { RunnerError } from "../errors.js"
import { decodeOncePerObject } from "../handle-state.js"
import { admitted } from "../admission.js"
import { openFilesLimit, ownOpenFilesMax } from "../open-files.js"
import { Runner, SandboxSpec } from "../runner.js"
import { makeSpawner } from "../spawner/spawner.js"
import type { ExecRequest, ExecResult, RunnerExecOptions, SandboxHandle, SandboxStatus } from "../runner.js"
import { probeHost, rootView } from "./host.js"
import type { BwrapHost } from "./host.js"
import { launch } from "./launch.js"
import { launcherArgs, launcherFailure } from "./launcher.js"
import {
  bwrapInvocation,
  checkSpec,
  DEFAULT_MAX_OUTPUT_BYTES,
  etcFiles,
  execCommand,
  HOST_ENV,
  idMap,
  networkEnv,
  RESOLV_CONF,
  sandboxPlan,
  sandboxState,
  sandboxUser
} from "./mapping.js"
import type { EtcPaths, SandboxUser } from "./mapping.js"
import { runCommand } from "./run-command.js"
import { chownTree, contentHash, copyTree, replaceContent } from "./workspace-copy.js"

export interface BwrapRunnerConfig {
  /** Name of the cgroup subtree holding every sandbox, in each hierarchy. */
  readonly cgroupParent: string
  /** Sandbox users get host uids in [uidBase, uidBase + uidCount), one per sandbox id. */
  readonly uidBase: number
  readonly uidCount: number
  readonly startTimeoutMs: number
}

export const defaultConfig: BwrapRunnerConfig = {
  cgroupParent: "hydravisor",
  uidBase: 0x7000_0000,
  uidCount: 0x1_0000,
  startTimeoutMs: 10_000
}

const KIND = "bwrap"

/**
 * The bwrap part of a persisted handle. Cgroup paths, tool paths and the sandbox uid are not stored:
 * they are derived again from the host and the id, so a handle read from disk cannot point a root
 * process at another file or program.
 */
const BwrapState = Schema.Struct({
  spec: SandboxSpec,
  bwrapPid: Schema.NullOr(Schema.Int),
  cgroupNamespace: Schema.Boolean
})
type BwrapState = Schema.Schema.Type<typeof BwrapState>

const decodeState = decodeOncePerObject(BwrapState)

const toHandle = (state: BwrapState, cgroups: SandboxCgroupPaths, pid: number | null): SandboxHandle => ({
  id: state.spec.id,
  runner: KIND,
  pid,
  cgroup: cgroups.tracking,
  runnerState: state
})

/** Everything an operation needs about one sandbox. */
interface Sandbox {
  readonly id: string
  readonly pid: number | null
  readonly state: BwrapState
  readonly host: BwrapHost
  readonly cgroups: SandboxCgroupPaths
  readonly user: SandboxUser
}

type Lifecycle = "created" | "started" | "stopped"

const lifecycleFile = (stateDir: string) => path.join(stateDir, "lifecycle")

const writeLifecycle = (stateDir: string, lifecycle: Lifecycle) =>
  Effect.try({
    try: () => fs.writeFileSync(lifecycleFile(stateDir), lifecycle),
    catch: (cause) => new RunnerIoFailure({ path: lifecycleFile(stateDir), operation: "write", reason: describeCause(cause) })
  })

const readLifecycle = (stateDir: string): Lifecycle | null => {
  try {
    const text = fs.readFileSync(lifecycleFile(stateDir), "utf8").trim()
    return text === "created" || text === "started" || text === "stopped" ? text : null
  } catch {
    return null
  }
}

const etcPaths = (stateDir: string): Required<EtcPaths> => ({
  passwd: path.join(stateDir, "etc", "passwd"),
  group: path.join(stateDir, "etc", "group"),
  hosts: path.join(stateDir, "etc", "hosts"),
  resolvConf: path.join(stateDir, "etc", "resolv.conf")
})

const ioTry = <A>(operation: string, at: string, run: () => A) =>
  Effect.try({ try: run, catch: (cause) => new RunnerIoFailure({ path: at, operation, reason: describeCause(cause) }) })

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

/** Freezes a running sandbox for the duration of `effect` (consistent, race-free workspace copies). */
const whileFrozen = <A, E>(cgroups: SandboxCgroupPaths, effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const events = yield* readEvents(cgroups.tracking)
    if (!events.populated || events.frozen) return yield* effect
    return yield* Effect.acquireUseRelease(
      setFrozen(cgroups.tracking, true),
      () => effect,
      () => setFrozen(cgroups.tracking, false).pipe(Effect.ignore)
    )
  })

export const make = (overrides: Partial<BwrapRunnerConfig> = {}): Effect.Effect<Runner, never, Scope.Scope> =>
  Effect.gen(function* () {
    const config: BwrapRunnerConfig = { ...defaultConfig, ...overrides }
    const filesMax = ownOpenFilesMax()
    // The host is probed once, at first use, and its outcome kept (a host that lacks something keeps
    // failing the same way). Effect.cached shares the probe among callers that come while it runs; its
    // outcome is then read from a plain variable, since every read through Effect.cached takes a
    // semaphore and let other fibers run in the middle of each exec's preparation.
    const probeOnce = yield* Effect.cached(probeHost(config.cgroupParent))
    let probed: Exit.Exit<BwrapHost, RunnerError> | null = null
    const host: Effect.Effect<BwrapHost, RunnerError> = Effect.suspend(() =>
      probed ?? Effect.flatten(Effect.tap(Effect.exit(probeOnce), (exit) => void (probed = exit)))
    )
    // Exec cgroup names: this runner's random prefix and a counter (a random draw per exec costs ~0.1 ms).
    const execPrefix = `exec-${randomBytes(4).toString("hex")}`
    let execCount = 0
    const nextExecCgroupName = () => `${execPrefix}-${(execCount++).toString(36)}`
    /** bwrap processes this instance started, so stop can reap them and the scope can kill them. */
    const live = new Map<string, { readonly bwrap: ChildProcess; readonly cgroups: SandboxCgroupPaths }>()
    const spawner = yield* makeSpawner

    yield* Effect.addFinalizer(() =>
      Effect.forEach([...live.values()], (sandbox) => killAll(sandbox.cgroups.tracking).pipe(Effect.ignore), { discard: true })
    )

    const derive = (spec: SandboxSpec, found: BwrapHost) => ({
      cgroups: sandboxCgroupPaths(found.layout, config.cgroupParent, spec.id),
      user: sandboxUser(spec.id, config.uidBase, config.uidCount)
    })

    const resolve = (handle: SandboxHandle): Effect.Effect<Sandbox, RunnerError> =>
      Effect.gen(function* () {
        if (handle.runner !== KIND) {
          return yield* Effect.fail(new InvalidHandle({ id: handle.id, reason: `it belongs to the ${handle.runner} runner` }))
        }
        const state = yield* Either.mapLeft(decodeState(handle.runnerState), (error) => new InvalidHandle({ id: handle.id, reason: error.message }))
        if (state.spec.id !== handle.id) {
          return yield* Effect.fail(new InvalidHandle({ id: handle.id, reason: `its state is for sandbox ${state.spec.id}` }))
        }
        const found = yield* host
        return { id: handle.id, pid: handle.pid, state, host: found, ...derive(state.spec, found) }
      })

    const create = (input: SandboxSpec): Effect.Effect<SandboxHandle, RunnerError> =>
      Effect.gen(function* () {
        const spec = yield* Schema.decodeUnknown(SandboxSpec)(input).pipe(
          Effect.mapError((error) => new InvalidSandboxSpec({ field: "spec", reason: error.message }))
        )
        yield* checkSpec(spec)
        const found = yield* host
        if (spec.rootfs.kind === "image") {
          const resolvConf = spec.network === "none" ? [] : ["/etc/resolv.conf"]
          for (const needed of [found.tools.setpriv, found.tools.env, "/bin/sh", "/etc/passwd", "/etc/group", "/etc/hosts", ...resolvConf]) {
            if (!fs.existsSync(path.join(spec.rootfs.path, needed))) {
              return yield* Effect.fail(new InvalidSandboxSpec({ field: "rootfs.path", reason: `the image at ${spec.rootfs.path} lacks ${needed}` }))
            }
          }
        }
        const { user } = derive(spec, found)
        const cgroups = yield* createSandboxCgroup(found.layout, config.cgroupParent, spec.id, spec.resources)
        yield* Effect.gen(function* () {
          const etc = etcPaths(spec.stateDir)
          const files = etcFiles(spec.hostname, user)
          yield* ioTry("create state dir", spec.stateDir, () => {
            fs.mkdirSync(path.join(spec.stateDir, "etc"), { recursive: true, mode: 0o700 })
            fs.writeFileSync(etc.passwd, files.passwd, { mode: 0o644 })
            fs.writeFileSync(etc.group, files.group, { mode: 0o644 })
            fs.writeFileSync(etc.hosts, files.hosts, { mode: 0o644 })
            fs.writeFileSync(etc.resolvConf, RESOLV_CONF, { mode: 0o644 })
          })
          yield* ioTry("create workspace", spec.workspaceDir, () => fs.mkdirSync(spec.workspaceDir, { recursive: true, mode: 0o700 }))
          yield* chownTree(spec.workspaceDir, user)
          yield* writeLifecycle(spec.stateDir, "created")
        }).pipe(Effect.tapError(() => removeSandboxCgroup(cgroups).pipe(Effect.ignore)))
        return toHandle({ spec, bwrapPid: null, cgroupNamespace: false }, cgroups, null)
      })

    const start = (handle: SandboxHandle): Effect.Effect<SandboxHandle, RunnerError> =>
      Effect.gen(function* () {
        const { state, cgroups, user, host: found } = yield* resolve(handle)
        const { spec } = state
        const events = yield* readEvents(cgroups.tracking)
        if (!events.exists) return yield* Effect.fail(new SandboxGone({ id: handle.id }))
        if (events.populated) return yield* Effect.fail(new SandboxStateConflict({ id: handle.id, operation: "start", state: "running" }))
        if (fs.statSync(spec.workspaceDir, { throwIfNoEntry: false })?.uid !== user.uid) yield* chownTree(spec.workspaceDir, user)
        const invocation = bwrapInvocation(sandboxPlan(spec, user, rootView(spec.rootfs), etcPaths(spec.stateDir)))
        const maps = idMap(user)
        const launched = yield* launch({
          id: handle.id,
          launcherArgs: launcherArgs(procsFiles(cgroups), [found.bwrap, ...invocation.argv], { fileHandles: openFilesLimit(spec.resources.fileHandles, filesMax) }),
          argsData: invocation.argsData,
          uidMap: maps.uidMap,
          gidMap: maps.gidMap,
          timeoutMs: config.startTimeoutMs
        }).pipe(Effect.tapError(() => killAll(cgroups.tracking).pipe(Effect.ignore)))
        live.set(handle.id, { bwrap: launched.bwrap, cgroups })
        launched.bwrap.once("exit", () => {
          if (live.get(handle.id)?.bwrap === launched.bwrap) live.delete(handle.id)
        })
        yield* writeLifecycle(spec.stateDir, "started")
        return toHandle({ spec, bwrapPid: launched.bwrap.pid ?? null, cgroupNamespace: launched.cgroupNamespace }, cgroups, launched.sandboxPid)
      })

    /** The sandbox's pid 1, if it is alive in the sandbox's cgroup and not frozen. */
    const requireRunning = (sandbox: Sandbox, operation: string) =>
      Effect.gen(function* () {
        const events = yield* readEvents(sandbox.cgroups.tracking)
        if (!events.exists) return yield* Effect.fail(new SandboxGone({ id: sandbox.id }))
        if (sandbox.pid === null || !pidIsMember(sandbox.cgroups, sandbox.pid)) {
          const lifecycle = readLifecycle(sandbox.state.spec.stateDir)
          return yield* lifecycle === "created" || lifecycle === "stopped"
            ? Effect.fail(new SandboxStateConflict({ id: sandbox.id, operation, state: "stopped" }))
            : Effect.fail(new SandboxGone({ id: sandbox.id }))
        }
        if (events.frozen) return yield* Effect.fail(new SandboxStateConflict({ id: sandbox.id, operation, state: "paused" }))
        return sandbox.pid
      })

    const exec = (handle: SandboxHandle, request: ExecRequest, options: RunnerExecOptions = {}): Effect.Effect<ExecResult, RunnerError> =>
      Effect.gen(function* () {
        const began = performance.now()
        const sandbox = yield* resolve(handle)
        const { cgroups } = sandbox
        const { spec } = sandbox.state
        const gated = options.admit !== undefined
        // Gated, the launcher is spawned first and the checks below run while it forks; it joins the
        // exec cgroup only after its go. Otherwise (nothing to overlap) they run before the spawn.
        const execDir = path.join(cgroups.tracking, nextExecCgroupName())
        let oomBefore = 0
        const prepare = Effect.gen(function* () {
          yield* requireRunning(sandbox, "exec")
          yield* createExecCgroup(execDir)
          oomBefore = readOomKills(cgroups)
        })
        const pid = sandbox.pid ?? (yield* requireRunning(sandbox, "exec"))
        const command = yield* execCommand({ pid, cgroupNamespace: sandbox.state.cgroupNamespace }, sandbox.user, sandbox.host.tools, { ...networkEnv(spec.network), ...spec.env }, request)
        if (!gated) yield* prepare
        const outcome = yield* runCommand(spawner, {
          file: "/bin/sh",
          args: launcherArgs(procsFiles(cgroups, execDir), command, { fd3: gated ? "gate" : "report", fileHandles: openFilesLimit(spec.resources.fileHandles, filesMax) }),
          beforeGo: gated ? prepare.pipe(Effect.zipRight(admitted(sandbox.id, options.admit))) : undefined,
          env: HOST_ENV,
          stdin: request.stdin,
          timeoutMs: request.timeoutMs,
          maxOutputBytes: request.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
          killTree: killAll(execDir).pipe(Effect.ignore)
        }).pipe(Effect.ensuring(releaseExecCgroup(execDir)))
        // Only the launcher's own report on fd 3 says it gave up: an exit status and stderr that read
        // the same are the command's (a command cannot forge a runner failure of its sandbox).
        const failed = launcherFailure(outcome.reported)
        if (failed === "cgroup") return yield* Effect.fail(new CgroupFailure({ path: execDir, operation: "join", reason: text(outcome.stderr).trim() }))
        if (failed === "open-files") {
          return yield* Effect.fail(new RunnerIoFailure({ path: execDir, operation: "limit open files", reason: text(outcome.stderr).trim() }))
        }
        const after = readLimitCounters(cgroups)
        const { blockedMs, reported, ...result } = outcome
        const counters = { oomKills: after.oomKills, pidsLimitHits: after.pidsLimitHits }
        return { ...result, oomKilled: after.oomKills > oomBefore, counters, runnerMs: performance.now() - began - blockedMs }
      })

    const setPaused = (handle: SandboxHandle, paused: boolean) =>
      Effect.gen(function* () {
        const { cgroups } = yield* resolve(handle)
        const events = yield* readEvents(cgroups.tracking)
        if (!events.exists) return yield* Effect.fail(new SandboxGone({ id: handle.id }))
        if (!events.populated) {
          return yield* Effect.fail(new SandboxStateConflict({ id: handle.id, operation: paused ? "pause" : "resume", state: "stopped" }))
        }
        yield* setFrozen(cgroups.tracking, paused)
      })

    const stopSandbox = ({ id, cgroups, state }: Sandbox) =>
      Effect.gen(function* () {
        const events = yield* readEvents(cgroups.tracking)
        if (!events.exists) return
        yield* killAll(cgroups.tracking)
        if (events.frozen) yield* setFrozen(cgroups.tracking, false)
        yield* pruneExecCgroups(cgroups)
        const started = live.get(id)
        if (started !== undefined) {
          live.delete(id)
          yield* Effect.async<void>((resume) => {
            if (started.bwrap.exitCode !== null || started.bwrap.signalCode !== null) return resume(Effect.void)
            started.bwrap.once("exit", () => resume(Effect.void))
          })
        }
        if (fs.existsSync(state.spec.stateDir)) yield* writeLifecycle(state.spec.stateDir, "stopped")
      })

    const stop = (handle: SandboxHandle): Effect.Effect<void, RunnerError> => resolve(handle).pipe(Effect.flatMap(stopSandbox))

    const destroy = (handle: SandboxHandle): Effect.Effect<void, RunnerError> =>
      Effect.gen(function* () {
        const sandbox = yield* resolve(handle)
        yield* stopSandbox(sandbox)
        yield* removeSandboxCgroup(sandbox.cgroups)
        for (const dir of [sandbox.state.spec.stateDir, sandbox.state.spec.workspaceDir]) {
          yield* ioTry("remove", dir, () => fs.rmSync(dir, { recursive: true, force: true }))
        }
      })

    const snapshot = (handle: SandboxHandle, dir: string) =>
      Effect.gen(function* () {
        const { cgroups, state } = yield* resolve(handle)
        if (fs.existsSync(dir)) {
          return yield* Effect.fail(new RunnerIoFailure({ path: dir, operation: "snapshot", reason: "the destination already exists" }))
        }
        yield* whileFrozen(cgroups, copyTree(state.spec.workspaceDir, dir, null))
        return { contentHash: yield* contentHash(dir) }
      })

    const restore = (handle: SandboxHandle, dir: string) =>
      Effect.gen(function* () {
        const { cgroups, state, user } = yield* resolve(handle)
        if (!fs.existsSync(dir)) return yield* Effect.fail(new RunnerIoFailure({ path: dir, operation: "restore", reason: "no such snapshot" }))
        yield* whileFrozen(cgroups, replaceContent(dir, state.spec.workspaceDir, user))
      })

    const status = (handle: SandboxHandle): Effect.Effect<SandboxStatus, RunnerError> =>
      Effect.gen(function* () {
        const { cgroups, state } = yield* resolve(handle)
        const events = yield* readEvents(cgroups.tracking)
        if (!events.exists) return { state: "gone", pids: [], memoryBytes: null, oomKills: 0, pidsLimitHits: 0 }
        const pids = listPids(cgroups)
        const current = sandboxState({
          populated: events.populated,
          frozen: events.frozen,
          freezeRequested: freezeRequested(cgroups.tracking),
          initAlive: handle.pid !== null && pids.includes(handle.pid),
          lifecycle: readLifecycle(state.spec.stateDir)
        })
        return { state: current, pids, ...readCounters(cgroups) }
      })

    const runner: Runner = {
      kind: KIND,
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

/** Provides `Runner` with bwrap; running sandboxes are killed when the layer's scope closes. */
export const layer = (overrides: Partial<BwrapRunnerConfig> = {}) => Layer.scoped(Runner, make(overrides))
