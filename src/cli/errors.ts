// The one place that turns a failure into one clear line on stderr and an exit code.
import { Cause, Console, Effect } from "effect"

/** A verb's own "no": the result was computed but is a failure (e.g. verification found tampering). */
export class ExitWith {
  constructor(readonly code: number) {}
}

const describe = (e: unknown): string => {
  if (typeof e === "object" && e !== null) {
    const tag = (e as { _tag?: string })._tag
    const message = (e as { message?: string }).message
    if (message && tag) return `${message}`
    if (message) return message
    if (tag) return tag
  }
  return String(e)
}

export const exitCodeOf = (e: unknown): number => {
  const tag = typeof e === "object" && e !== null ? (e as { _tag?: string })._tag : undefined
  switch (tag) {
    case "StoreCorrupt":
    case "KeyFileInsecure":
    case "KeyFileInvalid":
    case "KeyMismatch":
      return 3
    case "ValidationError":
    case "InvalidFilter":
      return 2
    default:
      return 1
  }
}

export const reportFailures = <A, E, R>(program: Effect.Effect<A, E, R>) =>
  program.pipe(
    Effect.catchAllCause((cause) =>
      Effect.gen(function* () {
        const failure = Cause.failureOption(cause)
        if (failure._tag === "Some") {
          const e = failure.value
          if (e instanceof ExitWith) {
            process.exitCode = e.code
            return
          }
          // @effect/cli already printed its own validation message.
          if (isCliValidation(e)) {
            process.exitCode = 2
            return
          }
          yield* Console.error(`hydravisor: ${describe(e)}`)
          process.exitCode = exitCodeOf(e)
          return
        }
        if (Cause.isInterruptedOnly(cause)) {
          process.exitCode = 130
          return
        }
        yield* Console.error(`hydravisor: internal error: ${Cause.pretty(cause).split("\n").slice(0, 6).join("\n")}`)
        process.exitCode = 70
      })
    )
  )

const isCliValidation = (e: unknown): boolean => {
  const tag = typeof e === "object" && e !== null ? (e as { _tag?: string })._tag : undefined
  return tag !== undefined && ["CommandMismatch", "CorrectedFlag", "HelpRequested", "InvalidArgument", "InvalidValue", "MissingValue", "MissingFlag", "MultipleValuesDetected", "MissingSubcommand", "NoBuiltInMatch", "UnclusteredFlag"].includes(tag)
}
