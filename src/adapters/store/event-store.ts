// The store port (design.md §3): append with optimistic concurrency, reads by stream and in global
// order, and a catch-up-then-live subscription. Adapters: sqlite/ (embedded default), eventstoredb/.
import { Context, Data, Effect, type Either, type Stream } from "effect"
import type { LedgerRecord } from "../../domain/ledger/record.js"

/** A place in the store's global order; sqlite uses commit = prepare = rowid, ESDB its $all position. */
export interface Position {
  readonly commit: bigint
  readonly prepare: bigint
}
export const Start: Position = { commit: -1n, prepare: -1n }
export const comparePositions = (a: Position, b: Position): number =>
  a.commit === b.commit ? (a.prepare === b.prepare ? 0 : a.prepare < b.prepare ? -1 : 1) : a.commit < b.commit ? -1 : 1

/** "no_stream": the stream must not exist; a number: the revision of the stream's last record. */
export type ExpectedRevision = "any" | "no_stream" | number

export interface StoredRecord {
  readonly position: Position
  readonly record: LedgerRecord
}

/** A record as stored, undecoded: what verification reads (it decodes in worker threads). */
export interface RawRecord {
  readonly position: Position
  readonly body: string
}

/** One record's chain columns, as stored; `body` only for key events and checkpoints. */
export interface IndexRow {
  readonly position: Position
  readonly writer: string
  readonly seq: number
  readonly prev: string | null
  readonly hash: string
  readonly type: string
  readonly body: string | null
}

export const CHAIN_EVENT_TYPES = ["WriterKeyRegistered", "WriterKeyRotated", "Checkpoint"] as const

/**
 * When an append is answered. "immediate" (the default): once it is on disk. "deferred": once it is
 * committed and readable, without waiting for the disk; it becomes durable with the next immediate
 * append (the store's order is kept, so nothing later can survive a power loss without it) or by the
 * store's own background sync shortly after. A crash of the process loses neither; a power loss can
 * cut off only the newest deferred records. Stores that always wait for the disk (EventStoreDB
 * acknowledges after its own fsync) treat both the same.
 */
export type Durability = "immediate" | "deferred"

export interface AppendRequest {
  readonly stream: string
  readonly records: ReadonlyArray<LedgerRecord>
  readonly expected: ExpectedRevision
  readonly durability?: Durability
}

export interface AppendResult {
  readonly nextExpectedRevision: number
  readonly positions: ReadonlyArray<Position>
}

export class WrongExpectedRevision extends Data.TaggedError("WrongExpectedRevision")<{
  readonly stream: string
  readonly expected: ExpectedRevision
  readonly actual: number | null
}> {
  override get message() {
    const actual = this.actual === null ? "no stream" : `revision ${this.actual}`
    return `stream ${this.stream}: expected ${this.expected === "no_stream" ? "no stream" : `revision ${this.expected}`}, found ${actual}`
  }
}

export class StoreUnavailable extends Data.TaggedError("StoreUnavailable")<{
  readonly store: string
  readonly problem: string
}> {
  override get message() {
    return `${this.store}: ${this.problem}`
  }
}

export class StoreCorrupt extends Data.TaggedError("StoreCorrupt")<{
  readonly store: string
  readonly problem: string
}> {
  override get message() {
    return `${this.store}: ${this.problem}`
  }
}

export type StoreError = StoreUnavailable | StoreCorrupt

export interface ChainHead {
  readonly seq: number
  readonly hash: string
}

export interface EventStoreShape {
  /** A human name for messages: the file or the connection. */
  readonly describe: string
  readonly append: (
    stream: string,
    records: ReadonlyArray<LedgerRecord>,
    expected: ExpectedRevision,
    durability?: Durability
  ) => Effect.Effect<AppendResult, WrongExpectedRevision | StoreError>
  /**
   * Several appends submitted together, answered one by one (a store with transactions commits them
   * in one). Optional: `appendMany` below falls back to concurrent `append`s.
   */
  readonly appendMany?: (
    requests: ReadonlyArray<AppendRequest>
  ) => Effect.Effect<ReadonlyArray<Either.Either<AppendResult, WrongExpectedRevision | StoreError>>>
  readonly readStream: (stream: string, fromRevision?: number) => Stream.Stream<StoredRecord, StoreError>
  /** Records strictly after `from`, in global order. */
  readonly readAll: (from?: Position) => Stream.Stream<StoredRecord, StoreError>
  /** readAll, then every record appended later, with no gap and no duplicate at the hand-over. */
  readonly subscribeAll: (from?: Position) => Stream.Stream<StoredRecord, StoreError>
  /** Undecoded records in global order, in chunks. */
  readonly readAllRaw: (from?: Position, chunkSize?: number) => Stream.Stream<ReadonlyArray<RawRecord>, StoreError>
  /** Stored chain columns without decoding bodies (verification --fast); optional for an adapter. */
  readonly readIndex?: (chunkSize?: number) => Stream.Stream<ReadonlyArray<IndexRow>, StoreError>
  readonly streamRevision: (stream: string) => Effect.Effect<number | null, StoreError>
  readonly chainHead: (writer: string) => Effect.Effect<ChainHead | null, StoreError>
  /** Record hashes of one writer's chain for seq in [fromSeq, toSeq), in seq order. */
  readonly chainHashes: (writer: string, fromSeq: number, toSeq: number) => Effect.Effect<ReadonlyArray<string>, StoreError>
  readonly findById: (id: string) => Effect.Effect<StoredRecord | null, StoreError>
  readonly writers: Effect.Effect<ReadonlyArray<string>, StoreError>
}

export class EventStore extends Context.Tag("hydravisor/EventStore")<EventStore, EventStoreShape>() {}

/** Submits appends together: one transaction where the store has them, concurrent appends otherwise. */
export const appendMany = (store: EventStoreShape, requests: ReadonlyArray<AppendRequest>) =>
  store.appendMany
    ? store.appendMany(requests)
    : Effect.all(
        requests.map((r) => Effect.either(store.append(r.stream, r.records, r.expected, r.durability))),
        { concurrency: "unbounded" }
      )
