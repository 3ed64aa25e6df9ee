// The ledger record (design.md §2): every stored event, defined once. Types derive from the Schemas.
import { Schema } from "effect"

export const Sha256Hex = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{64}$/),
  Schema.annotations({ identifier: "Sha256Hex", description: "lower-case hex SHA-256" })
)
export const SignatureHex = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{128}$/),
  Schema.annotations({ identifier: "SignatureHex", description: "lower-case hex Ed25519 signature" })
)
export const WriterId = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{16}$/),
  Schema.annotations({ identifier: "WriterId", description: "key id of the writer's first key" })
)
export const RecordId = Schema.String.pipe(
  Schema.pattern(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
  Schema.annotations({ identifier: "RecordId", description: "UUIDv7" })
)
export const StreamName = Schema.String.pipe(
  Schema.pattern(/^[a-z]+-[A-Za-z0-9._:-]{1,200}$/),
  Schema.annotations({ identifier: "StreamName", description: "<entity>-<id>, e.g. sandbox-<id>" })
)
export const EventType = Schema.String.pipe(
  Schema.pattern(/^[A-Z][A-Za-z0-9]{1,80}$/),
  Schema.annotations({ identifier: "EventType", description: "PascalCase past-tense event name" })
)
export const Timestamp = Schema.String.pipe(
  Schema.pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/),
  Schema.annotations({ identifier: "Timestamp", description: "RFC 3339 UTC with microseconds" })
)
export const NonNegativeInt = Schema.Int.pipe(Schema.nonNegative())

export const ActorKind = Schema.Literal("operator", "agent", "system", "monitor")
export const Actor = Schema.Struct({ kind: ActorKind, id: Schema.String.pipe(Schema.minLength(1)) })
export type Actor = Schema.Schema.Type<typeof Actor>

export const Chain = Schema.Struct({
  writer: WriterId,
  seq: NonNegativeInt,
  prev: Schema.NullOr(Sha256Hex)
})
export type Chain = Schema.Schema.Type<typeof Chain>

/**
 * Event payloads are JSON objects; each type's own Schema (the event catalogue) refines this. Checked,
 * not rebuilt: a rebuilt object would lose an own `__proto__` key (assigning it sets the prototype),
 * and a stored record's data must come back with exactly the keys it was hashed with.
 */
export const EventData = Schema.declare(
  (u: unknown): u is { readonly [key: string]: unknown } => typeof u === "object" && u !== null && !Array.isArray(u),
  { identifier: "EventData", description: "a JSON object" }
)

const recordFields = {
  id: RecordId,
  stream: StreamName,
  type: EventType,
  revision: NonNegativeInt,
  at: Timestamp,
  actor: Actor,
  correlation: Schema.NullOr(Schema.String),
  causation: Schema.NullOr(Schema.String),
  data: EventData,
  chain: Chain
}

/** Everything the hash covers (with sealed values replaced by their commitments). */
export const UnsignedRecord = Schema.Struct(recordFields)
export type UnsignedRecord = Schema.Schema.Type<typeof UnsignedRecord>

export const LedgerRecord = Schema.Struct({ ...recordFields, hash: Sha256Hex, sig: SignatureHex })
export type LedgerRecord = Schema.Schema.Type<typeof LedgerRecord>

/** Stored bytes are decoded strictly: an unknown key is tampering, not an extension. */
export const decodeLedgerRecord = Schema.decodeUnknownEither(LedgerRecord, {
  onExcessProperty: "error",
  errors: "first"
})
export const decodeLedgerRecordJson = Schema.decodeEither(
  Schema.parseJson(LedgerRecord),
  { onExcessProperty: "error", errors: "first" }
)
