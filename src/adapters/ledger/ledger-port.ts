// The ledger's port: what callers append with and get back. The writer (ledger.ts) implements it
// and re-exports these, so callers import either; the writer's own queue and batching stay there.
import { Context, type Effect } from "effect"
import type { NewEvent } from "../../domain/ledger/event-definition.js"
import type { Actor, LedgerRecord } from "../../domain/ledger/record.js"
import type { KeyError } from "../keys/key-store.js"
import type { Durability, ExpectedRevision, StoreError, WrongExpectedRevision } from "../store/event-store.js"
import type { WriterBusy } from "./writer-lock.js"
import type { KeyMismatch } from "./writer-key.js"

export type LedgerError = StoreError | KeyError | KeyMismatch | WriterBusy

export interface AppendOptions {
  readonly actor: Actor
  readonly expected?: ExpectedRevision
  readonly correlation?: string | null
  readonly causation?: string | null
  /**
   * "deferred": answered once committed, without waiting for the disk (see the store's Durability).
   * For monitor observations only: decisions, commands and checkpoints are always "immediate".
   */
  readonly durability?: Durability
}

export interface LedgerOptions {
  readonly dataDir: string
  readonly checkpointEveryRecords?: number
  readonly checkpointEverySeconds?: number
  readonly witnessFile?: string | undefined
  readonly host?: string
  readonly maxBatch?: number
  /** sensitive payload fields per event type, from the event catalogue */
  readonly sensitiveFields?: (type: string) => ReadonlyArray<string>
}

/** One stream's share of an `appendAll`. */
export interface AppendPart {
  readonly stream: string
  readonly events: ReadonlyArray<NewEvent>
  readonly options: AppendOptions
}

export interface LedgerShape {
  readonly writerId: string
  readonly currentKeyId: Effect.Effect<string>
  readonly append: (stream: string, events: ReadonlyArray<NewEvent>, options: AppendOptions) => Effect.Effect<ReadonlyArray<LedgerRecord>, WrongExpectedRevision | LedgerError>
  /**
   * Appends to several streams as one: every part's expected revision is checked before any is
   * stamped, so either all parts are planned or none (the first refusal fails the whole), and they
   * go to the store in the same batch (on SQLite, one transaction and one fsync). Records per part.
   */
  readonly appendAll: (parts: ReadonlyArray<AppendPart>) => Effect.Effect<ReadonlyArray<ReadonlyArray<LedgerRecord>>, WrongExpectedRevision | LedgerError>
  readonly checkpoint: Effect.Effect<LedgerRecord | null, LedgerError>
  readonly rotateKey: Effect.Effect<{ previousKeyId: string; keyId: string }, LedgerError>
  readonly head: Effect.Effect<{ seq: number; hash: string | null }>
}

export class Ledger extends Context.Tag("hydravisor/Ledger")<Ledger, LedgerShape>() {}
