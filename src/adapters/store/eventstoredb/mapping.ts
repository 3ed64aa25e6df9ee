// Ledger records <-> EventStoreDB events, in one place: the event (type = record type, data = the whole
// record JSON, metadata = chain/actor/correlation, id = record id), stream names, $all positions,
// expected revisions, and the adapter's own events (chain index entries, blob chunks).
import { createHash } from "node:crypto"
import { binaryEvent, jsonEvent, type EventData, type JSONType } from "@eventstore/db-client"
import { Option, Schema } from "effect"
import { Actor, Chain, RecordId, Sha256Hex, StreamName, type LedgerRecord } from "../../../domain/ledger/record.js"
import type { ExpectedRevision, Position } from "../event-store.js"

/** Event types of the adapter's own events: not PascalCase, so never a record type. */
export const CHAIN_INDEX_TYPE = "hydravisor.chain-index"
export const BLOB_CHUNK_TYPE = "hydravisor.blob-chunk"

/** The subset of the client's recorded event that the mapping reads. */
export interface RecordedEsdbEvent {
  readonly streamId: string
  readonly id: string
  readonly revision: bigint
  readonly type: string
  readonly data: unknown
  readonly metadata: unknown
  readonly position?: { readonly commit: bigint; readonly prepare: bigint } | undefined
}

// ---- streams ----------------------------------------------------------------------------------

/**
 * ESDB stream names. Without a namespace a record stream keeps its own name (`sandbox-<id>`); with
 * one, every stream of this store is `<namespace>/<name>` and streams outside it are ignored.
 */
export interface StreamNames {
  readonly esdbStream: (stream: string) => string
  /** The record stream an ESDB stream holds, or null when it is not one of this store's streams. */
  readonly recordStream: (esdbStream: string) => string | null
  readonly chainIndex: (writer: string) => string
  readonly blob: (hash: string) => string
}

export const streamNames = (namespace?: string): StreamNames => {
  const prefix = namespace === undefined || namespace === "" ? "" : `${namespace}/`
  return {
    esdbStream: (stream) => prefix + stream,
    recordStream: (esdbStream) => {
      if (esdbStream.startsWith("$")) return null
      if (prefix === "") return esdbStream.includes("/") ? null : esdbStream
      return esdbStream.startsWith(prefix) ? esdbStream.slice(prefix.length) : null
    },
    chainIndex: (writer) => `${prefix}chain-${writer}`,
    blob: (hash) => `${prefix}blob-${hash}`
  }
}

/** A recorded event is a ledger record when it is in one of this store's streams and is neither a
 * system event (`$…`) nor one of the adapter's own events. */
export const isRecordEvent = (names: StreamNames, event: Pick<RecordedEsdbEvent, "streamId" | "type">): boolean =>
  !event.type.startsWith("$") && !event.type.startsWith("hydravisor.") && names.recordStream(event.streamId) !== null

// ---- records ----------------------------------------------------------------------------------

export const RecordMetadata = Schema.Struct({ chain: Chain, actor: Actor, correlation: Schema.NullOr(Schema.String) })
export type RecordMetadata = Schema.Schema.Type<typeof RecordMetadata>
const decodeMetadata = Schema.decodeUnknownOption(RecordMetadata)

export const metadataOf = (record: LedgerRecord): RecordMetadata => ({ chain: record.chain, actor: record.actor, correlation: record.correlation })

/** The ESDB event for a record: JSON data is the whole record, so its bytes are JSON.stringify(record). */
export const toEventData = (record: LedgerRecord): EventData =>
  jsonEvent({
    id: record.id,
    type: record.type,
    data: record as unknown as JSONType,
    metadata: metadataOf(record) as unknown as JSONType
  })

/**
 * The stored record text. The client hands JSON data back parsed; JSON.stringify gives back the bytes
 * the writer stored (both are JSON.stringify of the same value). Data that is not JSON comes back as
 * it is stored: the client's string for malformed JSON, the bytes of a binary event.
 */
export const bodyOf = (event: Pick<RecordedEsdbEvent, "data">): string =>
  typeof event.data === "string"
    ? event.data
    : event.data instanceof Uint8Array
      ? Buffer.from(event.data).toString("utf8")
      : JSON.stringify(event.data)

/** Writer and seq as the event's metadata claims them (for scans that skip decoding bodies). */
export const chainClaim = (event: Pick<RecordedEsdbEvent, "metadata">): RecordMetadata["chain"] | null =>
  Option.getOrNull(Option.map(decodeMetadata(event.metadata), (m) => m.chain))

// ---- positions and revisions ------------------------------------------------------------------

export type EsdbPosition = { readonly commit: bigint; readonly prepare: bigint }

export const toPosition = (p: EsdbPosition): Position => ({ commit: p.commit, prepare: p.prepare })

/** Where an ESDB read of $all starts for "records strictly after `from`" (ESDB reads include it). */
export const esdbFrom = (from: Position | undefined): "start" | EsdbPosition =>
  from === undefined || from.commit < 0n || from.prepare < 0n ? "start" : { commit: from.commit, prepare: from.prepare }

/**
 * The revision the records must start at, given the caller's expectation: 0 for no_stream, n + 1 for
 * n, and for "any" the revision the first record carries (a record's revision is its ESDB event
 * number, so even "any" is sent to ESDB as an exact revision, which also makes retries idempotent).
 */
export const baseRevision = (expected: ExpectedRevision, records: ReadonlyArray<LedgerRecord>): number =>
  expected === "no_stream" ? 0 : expected === "any" ? (records[0]?.revision ?? 0) : expected + 1

/** The ESDB expected revision for records starting at `base`. */
export const esdbExpected = (base: number): "no_stream" | bigint => (base === 0 ? "no_stream" : BigInt(base - 1))

/** Whether the records are exactly `stream` revisions base, base+1, … (else they cannot be written there). */
export const stampedFor = (stream: string, base: number, records: ReadonlyArray<LedgerRecord>): LedgerRecord | null =>
  records.find((r, i) => r.stream !== stream || r.revision !== base + i) ?? null

/** ESDB's current revision as ours: "no_stream" -> null. */
export const fromEsdbRevision = (revision: bigint | "no_stream" | undefined): number | null =>
  typeof revision === "bigint" && revision >= 0n ? Number(revision) : null

// ---- derived ids ------------------------------------------------------------------------------

/** A UUID (version 8, RFC 9562) derived from text, so the same adapter event always has the same id. */
export const derivedId = (...parts: ReadonlyArray<string>): string => {
  const b = createHash("sha256").update(parts.join("\u0000")).digest().subarray(0, 16)
  b[6] = 0x80 | (b[6]! & 0x0f)
  b[8] = 0x80 | (b[8]! & 0x3f)
  const hex = b.toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

// ---- chain index ------------------------------------------------------------------------------

/** One entry of `chain-<writer>`: event number = seq, so the stream is the writer's chain in order. */
export const ChainIndexEntry = Schema.Struct({
  seq: Schema.Int.pipe(Schema.nonNegative()),
  hash: Sha256Hex,
  id: RecordId,
  stream: StreamName,
  revision: Schema.Int.pipe(Schema.nonNegative()),
  commit: Schema.BigInt,
  prepare: Schema.BigInt
})
export type ChainIndexEntry = Schema.Schema.Type<typeof ChainIndexEntry>
const encodeEntry = Schema.encodeSync(ChainIndexEntry)
const decodeEntry = Schema.decodeUnknownOption(ChainIndexEntry)

export const indexEntryOf = (record: LedgerRecord, position: Position): ChainIndexEntry => ({
  seq: record.chain.seq,
  hash: record.hash,
  id: record.id,
  stream: record.stream,
  revision: record.revision,
  commit: position.commit,
  prepare: position.prepare
})

export const toIndexEvent = (entry: ChainIndexEntry): EventData =>
  jsonEvent({ id: derivedId("chain-index", entry.id), type: CHAIN_INDEX_TYPE, data: encodeEntry(entry) as unknown as JSONType })

export const fromIndexEvent = (event: Pick<RecordedEsdbEvent, "data" | "revision">): ChainIndexEntry | null =>
  Option.getOrNull(Option.filter(decodeEntry(event.data), (e) => BigInt(e.seq) === event.revision))

// ---- blobs ------------------------------------------------------------------------------------

export const BlobChunkMetadata = Schema.Struct({
  index: Schema.Int.pipe(Schema.nonNegative()),
  chunks: Schema.Int.pipe(Schema.positive()),
  size: Schema.Int.pipe(Schema.nonNegative())
})
export type BlobChunkMetadata = Schema.Schema.Type<typeof BlobChunkMetadata>
export const decodeBlobChunkMetadata = Schema.decodeUnknownOption(BlobChunkMetadata)

export const toBlobChunk = (hash: string, meta: BlobChunkMetadata, bytes: Uint8Array): EventData =>
  binaryEvent({ id: derivedId("blob", hash, String(meta.index)), type: BLOB_CHUNK_TYPE, data: bytes, metadata: meta as unknown as JSONType })
