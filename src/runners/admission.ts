// The caller's go for an exec prepared but not yet run (RunnerExecOptions.admit).
import { Effect } from "effect"
import { ExecNotAdmitted } from "./errors.js"

/** Waits for the answer: the milliseconds spent waiting (0 without `admit`), or ExecNotAdmitted on a no. */
export const admitted = (id: string, admit: Effect.Effect<boolean> | undefined): Effect.Effect<number, ExecNotAdmitted> =>
  admit === undefined
    ? Effect.succeed(0)
    : Effect.gen(function* () {
        const asked = performance.now()
        if (!(yield* admit)) return yield* new ExecNotAdmitted({ id })
        return performance.now() - asked
      })
