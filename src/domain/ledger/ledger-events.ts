// The ledger's own events: key registration and rotation, and Merkle checkpoints.
import { Schema } from "effect"
import { defineEvent } from "./event-definition.js"
import { NonNegativeInt, Sha256Hex, WriterId } from "./record.js"

const PublicKeyHex = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/))

export const WriterKeyRegistered = defineEvent(
  "WriterKeyRegistered",
  Schema.Struct({
    algorithm: Schema.Literal("ed25519"),
    keyId: WriterId,
    publicKey: PublicKeyHex,
    host: Schema.String
  }),
  { description: "A writer's first key; seq 0 of its chain, signed by that key." }
)

export const WriterKeyRotated = defineEvent(
  "WriterKeyRotated",
  Schema.Struct({
    algorithm: Schema.Literal("ed25519"),
    previousKeyId: WriterId,
    keyId: WriterId,
    publicKey: PublicKeyHex
  }),
  { description: "The writer's key changes; signed by the old key, later records by the new one." }
)

export const Checkpoint = defineEvent(
  "Checkpoint",
  Schema.Struct({ size: NonNegativeInt, root: Sha256Hex }),
  { description: "Merkle root (RFC 9162) over the hashes of the writer's records seq 0..size-1." }
)

export const keyStream = (writer: string): string => `key-${writer}`
