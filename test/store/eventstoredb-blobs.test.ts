// Large payloads beside the records: content-addressed blobs in `blob-<hash>` streams of the
// EventStoreDB adapter, over the protocol double.
import { createHash, randomBytes } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { BLOB_CHUNK_BYTES } from "../../src/adapters/store/eventstoredb/blobs.js"
import { derivedId } from "../../src/adapters/store/eventstoredb/mapping.js"
import { openEsdbBlobs } from "../adapters/store/esdb-fixture.js"
import { newWriter, nextRecord } from "../support/record-builder.js"
import { esdbDouble } from "./esdb-double/esdb-double.js"

describe("EventStoreDB blob store (double)", () => {
  it.live("stores bytes in chunks under their SHA-256 and gives them back, once however often they are put", () =>
    Effect.gen(function* () {
      const double = yield* esdbDouble()
      const { blobs } = yield* openEsdbBlobs({ connection: double.connection })
      const bytes = randomBytes(2 * BLOB_CHUNK_BYTES + 12_345)
      const hash = yield* blobs.putBlob(bytes)
      expect(hash).toBe(createHash("sha256").update(bytes).digest("hex"))
      const chunks = double.log.events.filter((e) => e.stream === `blob-${hash}`)
      expect(chunks.length).toBe(3)
      expect(Buffer.from((yield* blobs.getBlob(hash))!)).toEqual(bytes)
      expect(yield* blobs.putBlob(bytes)).toBe(hash)
      expect(double.log.events.filter((e) => e.stream === `blob-${hash}`).length).toBe(3)
      const empty = yield* blobs.putBlob(new Uint8Array())
      expect((yield* blobs.getBlob(empty))!.length).toBe(0)
      expect(yield* blobs.getBlob("0".repeat(64))).toBe(null)
    }).pipe(Effect.scoped)
  )

  it.live("reports stored bytes that no longer match their hash", () =>
    Effect.gen(function* () {
      const double = yield* esdbDouble()
      const { blobs } = yield* openEsdbBlobs({ connection: double.connection })
      const hash = yield* blobs.putBlob(Buffer.from("a diff of a file, ".repeat(50_000)))
      double.tamper(derivedId("blob", hash, "1"), (text) => text.replace("diff", "DIFF"))
      const failed = yield* Effect.flip(blobs.getBlob(hash))
      expect(failed._tag).toBe("StoreCorrupt")
      expect(failed.message).toContain(`blob ${hash}`)
    }).pipe(Effect.scoped)
  )

  it.live("keeps blob chunks out of the records, which reference blobs by hash", () =>
    Effect.gen(function* () {
      const double = yield* esdbDouble()
      const { store, blobs } = yield* openEsdbBlobs({ connection: double.connection })
      const hash = yield* blobs.putBlob(randomBytes(1_000))
      const w = newWriter()
      const record = nextRecord(w, "sandbox-b", "FileChanged", { path: "/w/a.txt", diff: hash })
      yield* store.append("sandbox-b", [record], "no_stream")
      const all = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAll()))
      expect(all.map((r) => r.record)).toEqual([record])
      const blobAt = double.log.events.findIndex((e) => e.stream === `blob-${hash}`)
      const recordAt = double.log.events.findIndex((e) => e.id === record.id)
      expect(blobAt).toBeLessThan(recordAt)
    }).pipe(Effect.scoped)
  )
})
