// The event catalogue: every event type the ledger may hold, by name (docs/events.md describes each).
// The ledger takes `sensitiveFields` from here to know what to seal; readers decode payloads with
// `decodeEventData`, which unseals what is still sealed and checks the type's Schema.
import { Data, Either, ParseResult, Schema } from "effect"
import type { EventDefinition } from "../ledger/event-definition.js"
import { Checkpoint, WriterKeyRegistered, WriterKeyRotated } from "../ledger/ledger-events.js"
import { monitorEvents } from "../monitors/monitor-events.js"
import { policyEvents } from "../policy/policy-events.js"
import { sandboxEvents } from "../sandbox/sandbox-events.js"
import { agentEvents } from "./agent-events.js"
import { CommandRejected } from "./command-rejected.js"
import { unsealData } from "./redactable.js"

// The definitions differ in payload type; the catalogue only needs their common shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDefinition = EventDefinition<string, any, any>

export const eventDefinitions: ReadonlyArray<AnyDefinition> = [
  WriterKeyRegistered,
  WriterKeyRotated,
  Checkpoint,
  ...sandboxEvents,
  CommandRejected,
  ...agentEvents,
  ...monitorEvents,
  ...policyEvents
]

const byType: ReadonlyMap<string, AnyDefinition> = new Map(eventDefinitions.map((d) => [d.type, d]))

export const eventDefinition = (type: string): AnyDefinition | undefined => byType.get(type)

/** Top-level payload fields of `type` that the ledger stores sealed; none for an unknown type. */
export const sensitiveFields = (type: string): ReadonlyArray<string> => byType.get(type)?.sensitive ?? []

export class UnknownEventType extends Data.TaggedError("UnknownEventType")<{ readonly type: string }> {
  override get message() {
    return `unknown event type ${this.type} (not in the event catalogue)`
  }
}

export class InvalidEventData extends Data.TaggedError("InvalidEventData")<{ readonly type: string; readonly problem: string }> {
  override get message() {
    return `${this.type}: payload does not match its Schema: ${this.problem}`
  }
}

const decoders = new Map<string, (data: unknown) => Either.Either<unknown, ParseResult.ParseError>>(
  eventDefinitions.map((d) => [d.type, Schema.decodeUnknownEither(d.schema as Schema.Schema<unknown, unknown>, { onExcessProperty: "ignore" })])
)

/**
 * A stored payload as its type's value: sealed fields unsealed, redacted ones left as
 * `{ $redacted }` (every sensitive field's Schema admits that), unknown extra fields ignored so that
 * an older reader decodes a payload grown by optional fields.
 */
export const decodeEventData = (type: string, data: Readonly<Record<string, unknown>>): Either.Either<unknown, UnknownEventType | InvalidEventData> => {
  const decode = decoders.get(type)
  if (decode === undefined) return Either.left(new UnknownEventType({ type }))
  return Either.mapLeft(decode(unsealData(data)), (error) => new InvalidEventData({ type, problem: ParseResult.TreeFormatter.formatErrorSync(error) }))
}
