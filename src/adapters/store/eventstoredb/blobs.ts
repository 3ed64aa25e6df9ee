// Large payloads (diffs, outputs) by SHA-256: the bytes go to `blob-<hash>` as binary chunk events
// small enough for one append each; a record carries only the hash, and is appended after putBlob
// returns. Putting the same bytes again, or finishing an interrupted put, is idempotent.
import { createHash } from "node:crypto"
import { Context, Duration, Effect, Option } from "effect"
import { StoreCorrupt, StoreUnavailable, type StoreError } from "../event-store.js"
import { backoff, call, collectStream, describeError, errorType, isTransient, type Client } from "./client.js"
import { decodeBlobChunkMetadata, toBlobChunk, type StreamNames } from "./mapping.js"
import { lastRevision } from "./reads.js"

export interface BlobStoreShape {
  /** Stores the bytes (if not already stored) and gives their SHA-256, lower-case hex. */
  readonly putBlob: (bytes: Uint8Array) => Effect.Effect<string, StoreError>
  /** The bytes with this hash, checked against it; null when no such blob is stored. */
  readonly getBlob: (hash: string) => Effect.Effect<Uint8Array | null, StoreError>
}

export class EsdbBlobStore extends Context.Tag("hydravisor/EsdbBlobStore")<EsdbBlobStore, BlobStoreShape>() {}

/** Under EventStoreDB's default MaxAppendSize (1 MiB), with room for the event's other fields. */
export const BLOB_CHUNK_BYTES = 512 * 1024

const HASH = /^[0-9a-f]{64}$/

export const makeBlobStore = (ctx: {
  readonly client: Client
  readonly names: StreamNames
  readonly describe: string
  readonly retryBudget: Duration.DurationInput
  readonly chunkBytes?: number
}): BlobStoreShape => {
  const chunkBytes = ctx.chunkBytes ?? BLOB_CHUNK_BYTES
  const corrupt = (hash: string, problem: string) => new StoreCorrupt({ store: ctx.describe, problem: `blob ${hash}: ${problem}` })

  const putBlob = (bytes: Uint8Array) =>
    Effect.gen(function* () {
      const hash = createHash("sha256").update(bytes).digest("hex")
      const stream = ctx.names.blob(hash)
      const chunks = Math.max(1, Math.ceil(bytes.length / chunkBytes))
      const current = yield* lastRevision(ctx, stream)
      for (let index = (current ?? -1) + 1; index < chunks; index++) {
        const event = toBlobChunk(hash, { index, chunks, size: bytes.length }, bytes.subarray(index * chunkBytes, (index + 1) * chunkBytes))
        yield* Effect.tryPromise({
          try: () => ctx.client.appendToStream(stream, event, { expectedRevision: index === 0 ? "no_stream" : BigInt(index - 1) }),
          catch: (e) => e
        }).pipe(
          Effect.retry({ schedule: backoff(ctx.retryBudget), while: isTransient }),
          // A chunk with the same id at the same place is taken as a retry; anything else differs.
          Effect.mapError((e) =>
            errorType(e) === "wrong-expected-version"
              ? corrupt(hash, `chunk ${index} conflicts with a stored one`)
              : new StoreUnavailable({ store: ctx.describe, problem: `writing ${stream}: ${describeError(e)}` })
          )
        )
      }
      return hash
    })

  const getBlob = (hash: string) =>
    Effect.gen(function* () {
      if (!HASH.test(hash)) return yield* new StoreUnavailable({ store: ctx.describe, problem: `not a SHA-256 hash: ${hash}` })
      const stream = ctx.names.blob(hash)
      const resolved = yield* call(ctx.describe, `reading ${stream}`, ctx.retryBudget, () => collectStream(ctx.client, stream, { fromRevision: "start" }))
      if (resolved === null) return null
      const parts: Array<Uint8Array> = []
      let expected: { chunks: number; size: number } | null = null
      for (const [i, r] of resolved.entries()) {
        const meta = Option.getOrNull(decodeBlobChunkMetadata(r.event?.metadata))
        if (r.event === undefined || meta === null || meta.index !== i || !(r.event.data instanceof Uint8Array)) return yield* corrupt(hash, `chunk ${i} is not a blob chunk`)
        expected ??= { chunks: meta.chunks, size: meta.size }
        parts.push(r.event.data)
      }
      if (expected === null || parts.length < expected.chunks) return null // an interrupted put: not stored yet
      const bytes = Buffer.concat(parts)
      if (bytes.length !== expected.size || createHash("sha256").update(bytes).digest("hex") !== hash)
        return yield* corrupt(hash, "the stored bytes do not have this hash")
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)
    })

  return { putBlob, getBlob }
}
