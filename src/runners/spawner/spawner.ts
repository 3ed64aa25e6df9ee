// Host processes started by a small helper process instead of by the daemon itself (see
// helper-source.ts for why: a fork from a big process is slow and blocks its event loop). The
// helper starts with the first run and again after it dies; runs in flight when it dies fail with a
// RunnerIoFailure that says so.
import { spawn, type ChildProcess } from "node:child_process"
import { Effect, Exit, Option, type Scope } from "effect"
import { RunnerIoFailure } from "../errors.js"
import { HELPER_SOURCE } from "./helper-source.js"

export interface SpawnRequest {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly stdin: Uint8Array | undefined
  readonly maxOutputBytes: number
  /**
   * fd 3 of the process: nothing ("none"), a channel to the helper whose bytes come back as
   * `reported` ("report"), or that and a gate: the process says it is ready there and waits until
   * `go` ("gate"; see the bwrap launcher).
   */
  readonly fd3: "none" | "report" | "gate"
}

export interface SpawnOutcome {
  readonly exitCode: number | null
  readonly signal: string | null
  readonly stdout: Uint8Array
  readonly stderr: Uint8Array
  readonly stdoutTruncated: boolean
  readonly stderrTruncated: boolean
  /** From spawn to exit, less the time the process waited at its gate once ready. */
  readonly durationMs: number
  /** How long the process waited at its gate after it was ready. */
  readonly blockedMs: number
  /** What the process wrote on fd 3, less a gated run's ready byte (at most 64 bytes). */
  readonly reported: string
}

export interface SpawnedProcess {
  /** Resolves with the outcome once the process exited and its pipes closed (or fails: not started). */
  readonly done: Effect.Effect<SpawnOutcome, RunnerIoFailure>
  /**
   * `done`, or None when the process has not finished within `ms` (it goes on running). A timer, not
   * a race of fibers: Effect's timeout forks both sides and cost ~0.25 ms per exec after the exit.
   */
  readonly doneWithin: (ms: number) => Effect.Effect<Option.Option<SpawnOutcome>, RunnerIoFailure>
  /** Lets a gated process go on. */
  readonly go: Effect.Effect<void>
  /** SIGKILLs the process itself (its descendants are the caller's to kill). */
  readonly kill: Effect.Effect<void>
}

export interface Spawner {
  readonly spawn: (request: SpawnRequest) => Effect.Effect<SpawnedProcess, RunnerIoFailure>
  /** The helper's pid while it runs (tests kill it to check the recovery). */
  readonly helperPid: () => number | null
}

type HelperMessage =
  | { readonly t: "failed"; readonly id: number; readonly message: string }
  | ({ readonly t: "done"; readonly id: number; readonly code: number | null } & Omit<SpawnOutcome, "exitCode">)

type Settled = Exit.Exit<SpawnOutcome, RunnerIoFailure>

/** One run's outcome, once the helper reported it, and the fibers waiting for it. */
interface Pending {
  readonly file: string
  settled: Settled | null
  readonly waiters: Set<(settled: Settled) => void>
}

const settle = (p: Pending, settled: Settled) => {
  p.settled = settled
  for (const waiter of p.waiters) waiter(settled)
  p.waiters.clear()
}

/** The run's outcome (Some), or None once `ms` passed first (undefined: no limit). */
const awaitRun = (p: Pending, ms: number | undefined): Effect.Effect<Option.Option<SpawnOutcome>, RunnerIoFailure> =>
  Effect.async((resume) => {
    if (p.settled !== null) return resume(Exit.map(p.settled, Option.some))
    let timer: ReturnType<typeof setTimeout> | undefined
    const waiter = (settled: Settled) => {
      clearTimeout(timer)
      resume(Exit.map(settled, Option.some))
    }
    p.waiters.add(waiter)
    if (ms !== undefined)
      timer = setTimeout(() => {
        p.waiters.delete(waiter)
        resume(Effect.succeed(Option.none()))
      }, ms)
    return Effect.sync(() => {
      clearTimeout(timer)
      p.waiters.delete(waiter)
    })
  })

export const makeSpawner: Effect.Effect<Spawner, never, Scope.Scope> = Effect.gen(function* () {
  let helper: ChildProcess | null = null
  let nextId = 0
  const pending = new Map<number, Pending>()

  /** The helper keeps the event loop alive only while it has runs in flight. */
  const holdLoop = (child: ChildProcess, hold: boolean) => {
    const channel = (child as unknown as { channel?: { ref(): void; unref(): void } }).channel
    if (hold) {
      child.ref()
      channel?.ref()
    } else {
      child.unref()
      channel?.unref()
    }
  }

  const lost = (child: ChildProcess, reason: string) => {
    if (helper === child) helper = null
    for (const [id, p] of pending) {
      const failure = new RunnerIoFailure({ path: p.file, operation: "spawn", reason: `the spawner process ${reason}; the command's outcome is unknown` })
      pending.delete(id)
      settle(p, Exit.fail(failure))
    }
  }

  const settled = (id: number) => {
    pending.delete(id)
    if (pending.size === 0 && helper !== null) holdLoop(helper, false)
  }

  const onMessage = (m: HelperMessage) => {
    const p = pending.get(m.id)
    if (p === undefined) return
    settled(m.id)
    if (m.t === "failed") return settle(p, Exit.fail(new RunnerIoFailure({ path: p.file, operation: "spawn", reason: m.message })))
    settle(
      p,
      Exit.succeed({
        exitCode: m.code,
        signal: m.signal,
        stdout: m.stdout,
        stderr: m.stderr,
        stdoutTruncated: m.stdoutTruncated,
        stderrTruncated: m.stderrTruncated,
        durationMs: m.durationMs,
        blockedMs: m.blockedMs,
        reported: m.reported
      })
    )
  }

  const ensureHelper = (): ChildProcess => {
    if (helper !== null) return helper
    const child = spawn(process.execPath, ["-e", HELPER_SOURCE], {
      stdio: ["ignore", "ignore", "inherit", "ipc"],
      serialization: "advanced",
      env: { PATH: process.env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin" }
    })
    child.on("message", onMessage)
    child.once("exit", (code, signal) => lost(child, `exited (${signal ?? code})`))
    child.once("error", (e) => lost(child, `failed: ${e.message}`))
    holdLoop(child, false)
    helper = child
    return child
  }

  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      const child = helper
      helper = null
      if (child !== null) {
        lost(child, "was stopped with its runner")
        child.kill("SIGTERM")
      }
    })
  )

  const tell = (child: ChildProcess, message: object) => {
    if (child.connected) child.send(message)
  }

  const spawnOne = (request: SpawnRequest): Effect.Effect<SpawnedProcess, RunnerIoFailure> =>
    Effect.gen(function* () {
      const id = nextId++
      const run: Pending = { file: request.file, settled: null, waiters: new Set() }
      const child = yield* Effect.try({
        try: () => ensureHelper(),
        catch: (e) => new RunnerIoFailure({ path: request.file, operation: "spawn", reason: `cannot start the spawner process: ${String(e)}` })
      })
      pending.set(id, run)
      holdLoop(child, true)
      // Not waiting for the fork: a `go` or `kill` sent meanwhile is applied in order by the helper.
      tell(child, { t: "run", id, file: request.file, args: request.args, env: request.env, stdin: request.stdin ?? null, maxOutputBytes: request.maxOutputBytes, fd3: request.fd3 })
      return {
        done: Effect.map(awaitRun(run, undefined), Option.getOrThrow),
        doneWithin: (ms) => awaitRun(run, ms),
        go: Effect.sync(() => tell(child, { t: "go", id })),
        kill: Effect.sync(() => tell(child, { t: "kill", id }))
      }
    })

  return { spawn: spawnOne, helperPid: () => helper?.pid ?? null }
})
