// Runs one host process to completion through the spawner (the helper process feeds stdin and keeps
// at most `maxOutputBytes` of each stream), enforces the timeout with a caller-given tree kill, and
// kills that tree too when the fiber is interrupted. With `beforeGo`, the process is started at once
// but held at its gate while `beforeGo` runs: its success lets the process go on, its failure kills it
// before anything of the command ran (and is the call's failure). The process is the exec launcher:
// it always gets fd 3, where it reports a failure of its own (`reported`).
import { Effect, Exit, Option } from "effect"
import type { RunnerIoFailure } from "../errors.js"
import type { SpawnOutcome, Spawner } from "../spawner/spawner.js"

export interface CommandSpec<E = never> {
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly stdin: Uint8Array | undefined
  /** Counted from the moment the process may go on. */
  readonly timeoutMs: number | undefined
  readonly maxOutputBytes: number
  /** Kills the command and everything it started; called on timeout and on interruption. */
  readonly killTree: Effect.Effect<void>
  /** Runs while the process waits at its gate (its launcher must read fd 3); success lets it go on. */
  readonly beforeGo?: Effect.Effect<void, E> | undefined
}

/** The spawner's outcome, and whether the timeout ended the command. */
export interface CommandOutcome extends SpawnOutcome {
  readonly timedOut: boolean
}

export const runCommand = <E = never>(spawner: Spawner, spec: CommandSpec<E>): Effect.Effect<CommandOutcome, RunnerIoFailure | E> =>
  Effect.acquireUseRelease(
    spawner.spawn({ file: spec.file, args: spec.args, env: spec.env, stdin: spec.stdin, maxOutputBytes: spec.maxOutputBytes, fd3: spec.beforeGo !== undefined ? "gate" : "report" }),
    (proc) =>
      Effect.gen(function* () {
        if (spec.beforeGo !== undefined) {
          yield* spec.beforeGo
          yield* proc.go
        }
        const finished = spec.timeoutMs === undefined ? Option.some(yield* proc.done) : yield* proc.doneWithin(spec.timeoutMs)
        if (Option.isSome(finished)) return { ...finished.value, timedOut: false }
        yield* spec.killTree
        yield* proc.kill
        return { ...(yield* proc.done), timedOut: true }
      }),
    // Failed, withdrawn or interrupted: nothing of the command may outlive the call.
    (proc, exit) => (Exit.isSuccess(exit) ? Effect.void : spec.killTree.pipe(Effect.zipRight(proc.kill), Effect.zipRight(Effect.ignore(proc.done))))
  )
