// Runs one host process to completion: feeds stdin, keeps at most `maxOutputBytes` of each stream
// (reading and dropping the rest so the writer never blocks), enforces the timeout with a caller-given
// tree kill, and kills that tree too when the fiber is interrupted.
import { Duration, Effect, Option } from "effect"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import type { Readable } from "node:stream"
import { describeCause, RunnerIoFailure } from "../errors.js"

export interface CommandSpec {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly stdin: Uint8Array | undefined
  readonly timeoutMs: number | undefined
  readonly maxOutputBytes: number
  /** Kills the command and everything it started; called on timeout and on interruption. */
  readonly killTree: Effect.Effect<void>
}

export interface CommandOutcome {
  readonly exitCode: number | null
  readonly signal: string | null
  readonly stdout: Uint8Array
  readonly stderr: Uint8Array
  readonly stdoutTruncated: boolean
  readonly stderrTruncated: boolean
  readonly durationMs: number
  readonly timedOut: boolean
}

/** How long to keep reading after the process exited, when a background child still holds its pipes. */
const PIPE_GRACE_MS = 100

interface Capture {
  readonly chunks: Array<Buffer>
  size: number
  truncated: boolean
}

const capture = (stream: Readable | null, max: number): Capture => {
  const state: Capture = { chunks: [], size: 0, truncated: false }
  stream?.on("data", (chunk: Buffer) => {
    const room = max - state.size
    if (room <= 0) {
      if (chunk.length > 0) state.truncated = true
      return
    }
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room)
    if (kept.length < chunk.length) state.truncated = true
    state.chunks.push(kept)
    state.size += kept.length
  })
  return state
}

interface Running {
  readonly child: ChildProcess
  readonly startedAt: number
  readonly stdout: Capture
  readonly stderr: Capture
  exited: { readonly code: number | null; readonly signal: string | null; readonly at: number } | null
}

const start = (spec: CommandSpec) =>
  Effect.try({
    try: (): Running => {
      const startedAt = performance.now()
      // detached = setsid: no controlling terminal to inject keystrokes into (what bwrap's --new-session does)
      const child = spawn(spec.file, spec.args, { env: spec.env, stdio: ["pipe", "pipe", "pipe"], detached: true })
      const running: Running = {
        child,
        startedAt,
        stdout: capture(child.stdout, spec.maxOutputBytes),
        stderr: capture(child.stderr, spec.maxOutputBytes),
        exited: null
      }
      child.on("exit", (code, signal) => {
        running.exited = { code, signal, at: performance.now() }
      })
      child.stdin?.on("error", () => undefined)
      child.stdin?.end(spec.stdin === undefined ? undefined : Buffer.from(spec.stdin))
      return running
    },
    catch: (cause) => new RunnerIoFailure({ path: spec.file, operation: "spawn", reason: describeCause(cause) })
  })

/** Resolves once the process has exited and its pipes are drained (or the grace period ran out). */
const completion = (running: Running) =>
  Effect.async<void, RunnerIoFailure>((resume) => {
    const { child } = running
    let graceTimer: NodeJS.Timeout | undefined
    const finish = () => {
      if (graceTimer !== undefined) clearTimeout(graceTimer)
      child.stdout?.destroy()
      child.stderr?.destroy()
      resume(Effect.void)
    }
    const onExit = () => {
      graceTimer = setTimeout(finish, PIPE_GRACE_MS)
    }
    const onError = (cause: Error) =>
      resume(Effect.fail(new RunnerIoFailure({ path: child.spawnfile, operation: "spawn", reason: cause.message })))
    child.once("close", finish)
    child.once("error", onError)
    if (running.exited !== null) onExit()
    else child.once("exit", onExit)
    return Effect.sync(() => {
      if (graceTimer !== undefined) clearTimeout(graceTimer)
      child.off("close", finish)
      child.off("exit", onExit)
      child.off("error", onError)
    })
  })

const ensureDead = (running: Running, killTree: Effect.Effect<void>) =>
  running.exited !== null && running.child.stdout?.destroyed === true
    ? Effect.void
    : killTree.pipe(
        Effect.zipRight(Effect.sync(() => running.child.kill("SIGKILL"))),
        Effect.zipRight(completion(running).pipe(Effect.ignore))
      )

export const runCommand = (spec: CommandSpec): Effect.Effect<CommandOutcome, RunnerIoFailure> =>
  Effect.acquireUseRelease(
    start(spec),
    (running) =>
      Effect.gen(function* () {
        const finished =
          spec.timeoutMs === undefined
            ? yield* completion(running).pipe(Effect.as(true))
            : yield* completion(running).pipe(
                Effect.timeoutOption(Duration.millis(spec.timeoutMs)),
                Effect.map(Option.isSome)
              )
        if (!finished) {
          yield* spec.killTree
          yield* Effect.sync(() => running.child.kill("SIGKILL"))
          yield* completion(running)
        }
        const exited = running.exited
        return {
          exitCode: exited?.code ?? null,
          signal: exited?.signal ?? null,
          stdout: Buffer.concat(running.stdout.chunks),
          stderr: Buffer.concat(running.stderr.chunks),
          stdoutTruncated: running.stdout.truncated,
          stderrTruncated: running.stderr.truncated,
          durationMs: (exited?.at ?? performance.now()) - running.startedAt,
          timedOut: !finished
        }
      }),
    (running) => ensureDead(running, spec.killTree)
  )
