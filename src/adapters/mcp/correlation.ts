// Links what a tool call causes to its ToolCalled record. The SandboxService picks its own correlation
// id per command and takes none from its caller, so the MCP host puts this Ledger in front of the
// writer: inside `withCallCorrelation(id)` every append (by the service too) carries `id`.
import { Effect, FiberRef, Layer } from "effect"
import { observationStream } from "../../domain/monitors/monitor-events.js"
import { Ledger, type AppendOptions } from "../ledger/ledger.js"

const CallCorrelation = FiberRef.unsafeMake<string | null>(null)

// Monitors started by a launch run in fibers forked from the call and would inherit its id; what
// they observe later is the sandbox's, not the call's.
const OBSERVATIONS = observationStream("")

const correlated = (correlation: string | null, stream: string, options: AppendOptions): AppendOptions =>
  correlation === null || stream.startsWith(OBSERVATIONS) ? options : { ...options, correlation }

export const withCallCorrelation = (correlation: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.locally(effect, CallCorrelation, correlation)

/** The Ledger with the current call's correlation id on every append made inside a call. */
export const CorrelatingLedger = Layer.effect(
  Ledger,
  Effect.map(Ledger, (ledger) => ({
    ...ledger,
    append: (stream, events, options) =>
      Effect.flatMap(FiberRef.get(CallCorrelation), (correlation) => ledger.append(stream, events, correlated(correlation, stream, options))),
    appendAll: (parts) =>
      Effect.flatMap(FiberRef.get(CallCorrelation), (correlation) =>
        ledger.appendAll(parts.map((part) => ({ ...part, options: correlated(correlation, part.stream, part.options) })))
      )
  }))
)
