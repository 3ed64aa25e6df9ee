// The store contract (design.md §3), written once and run unchanged against every adapter: each
// adapter's test file calls `storeConformance` with a layer that provides a fresh, empty store.
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream, type Layer } from "effect"
import { EventStore, comparePositions } from "../../src/adapters/store/event-store.js"
import { decodeLedgerRecordJson } from "../../src/domain/ledger/record.js"
import { newWriter, nextRecord, registration } from "../support/record-builder.js"

export const storeConformance = (name: string, freshStore: () => Layer.Layer<EventStore, unknown>) => {
  const run = <A, E>(body: Effect.Effect<A, E, EventStore>) => body.pipe(Effect.provide(freshStore()), Effect.scoped)

  describe(`EventStore conformance: ${name}`, () => {
    it.effect("appends to a new stream and reads it back in revision order", () =>
      run(
        Effect.gen(function* () {
          const store = yield* EventStore
          const w = newWriter()
          const records = [nextRecord(w, "sandbox-a", "SandboxLaunched", { n: 0 }), nextRecord(w, "sandbox-a", "CommandExecuted", { n: 1 })]
          const result = yield* store.append("sandbox-a", records, "no_stream")
          expect(result.nextExpectedRevision).toBe(1)
          const read = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readStream("sandbox-a")))
          expect(read.map((r) => r.record)).toEqual(records)
          expect(yield* store.streamRevision("sandbox-a")).toBe(1)
          expect(yield* store.streamRevision("sandbox-none")).toBe(null)
        })
      )
    )

    it.effect("refuses an append at a wrong expected revision with WrongExpectedRevision naming the actual one", () =>
      run(
        Effect.gen(function* () {
          const store = yield* EventStore
          const w = newWriter()
          yield* store.append("sandbox-a", [nextRecord(w, "sandbox-a", "SandboxLaunched", {})], "no_stream")
          const late = nextRecord(w, "sandbox-a", "SandboxStopped", {})
          const again = yield* Effect.flip(store.append("sandbox-a", [late], "no_stream"))
          expect(again._tag).toBe("WrongExpectedRevision")
          if (again._tag === "WrongExpectedRevision") expect(again.actual).toBe(0)
          const stale = yield* Effect.flip(store.append("sandbox-a", [late], 5))
          expect(stale._tag).toBe("WrongExpectedRevision")
          const ok = yield* store.append("sandbox-a", [late], 0)
          expect(ok.nextExpectedRevision).toBe(1)
        })
      )
    )

    it.effect("treats a deferred append like any other for order, concurrency and reads", () =>
      run(
        Effect.gen(function* () {
          const store = yield* EventStore
          const w = newWriter()
          const first = nextRecord(w, "observations-a", "ProcessStarted", { n: 0 })
          yield* store.append("observations-a", [first], "no_stream", "deferred")
          const late = nextRecord(w, "observations-a", "ProcessStarted", { n: 1 })
          const refused = yield* Effect.flip(store.append("observations-a", [late], "no_stream", "deferred"))
          expect(refused._tag).toBe("WrongExpectedRevision")
          const decision = nextRecord(w, "sandbox-a", "CommandExecuted", { n: 2 })
          yield* store.append("observations-a", [late], 0, "deferred")
          yield* store.append("sandbox-a", [decision], "no_stream")
          const all = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAll()))
          expect(all.map((r) => r.record.id)).toEqual([first.id, late.id, decision.id])
        })
      )
    )

    it.effect("accepts 'any' as the expected revision", () =>
      run(
        Effect.gen(function* () {
          const store = yield* EventStore
          const w = newWriter()
          yield* store.append("sandbox-b", [nextRecord(w, "sandbox-b", "SandboxLaunched", {})], "any")
          const r = yield* store.append("sandbox-b", [nextRecord(w, "sandbox-b", "SandboxStopped", {})], "any")
          expect(r.nextExpectedRevision).toBe(1)
        })
      )
    )

    it.effect("reads all streams in one global order, strictly after a given position", () =>
      run(
        Effect.gen(function* () {
          const store = yield* EventStore
          const w = newWriter()
          const written = []
          for (let i = 0; i < 30; i++) {
            const stream = `sandbox-${i % 3}`
            const rec = nextRecord(w, stream, "CommandExecuted", { i })
            yield* store.append(stream, [rec], "any")
            written.push(rec)
          }
          const all = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAll()))
          expect(all.map((r) => r.record.id)).toEqual(written.map((r) => r.id))
          for (let i = 1; i < all.length; i++) expect(comparePositions(all[i - 1]!.position, all[i]!.position)).toBe(-1)
          const after = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAll(all[9]!.position)))
          expect(after.map((r) => r.record.id)).toEqual(written.slice(10).map((r) => r.id))
        })
      )
    )

    it.effect("gives undecoded bodies that decode to the stored records", () =>
      run(
        Effect.gen(function* () {
          const store = yield* EventStore
          const w = newWriter()
          const recs = Array.from({ length: 10 }, (_, i) => nextRecord(w, "sandbox-r", "CommandExecuted", { i }))
          yield* store.append("sandbox-r", recs, "no_stream")
          const raw = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAllRaw(undefined, 3))).flat()
          expect(raw.map((r) => decodeLedgerRecordJson(r.body)).map((d) => (d._tag === "Right" ? d.right : null))).toEqual(recs)
        })
      )
    )

    it.live("subscribes: catches up, then goes live, with no gap and no duplicate at the hand-over", () =>
      run(
        Effect.gen(function* () {
          const store = yield* EventStore
          const w = newWriter()
          const ids: Array<string> = []
          for (let i = 0; i < 20; i++) {
            const r = nextRecord(w, `sandbox-${i % 4}`, "CommandExecuted", { i })
            ids.push(r.id)
            yield* store.append(r.stream, [r], "any")
          }
          const fiber = yield* Effect.fork(Stream.runCollect(Stream.take(store.subscribeAll(), 60)))
          for (let i = 20; i < 60; i++) {
            const r = nextRecord(w, `sandbox-${i % 4}`, "CommandExecuted", { i })
            ids.push(r.id)
            yield* store.append(r.stream, [r], "any")
            if (i % 10 === 0) yield* Effect.sleep("5 millis")
          }
          const seen = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
          expect(seen.map((s) => s.record.id)).toEqual(ids)
        })
      ).pipe(Effect.timeout("20 seconds"))
    )

    it.effect("lands every one of many concurrent appends exactly once", () =>
      run(
        Effect.gen(function* () {
          const store = yield* EventStore
          const w = newWriter()
          const recs = Array.from({ length: 200 }, (_, i) => nextRecord(w, `sandbox-c${i}`, "CommandExecuted", { i }))
          yield* Effect.all(recs.map((r) => store.append(r.stream, [r], "no_stream")), { concurrency: "unbounded" })
          const all = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAll()))
          expect(new Set(all.map((r) => r.record.id)).size).toBe(200)
          expect(all.length).toBe(200)
        })
      )
    )

    it.effect("treats a retried append of the same records as done, without a duplicate", () =>
      run(
        Effect.gen(function* () {
          const store = yield* EventStore
          const w = newWriter()
          const recs = [nextRecord(w, "sandbox-i", "SandboxLaunched", {}), nextRecord(w, "sandbox-i", "CommandExecuted", {})]
          yield* store.append("sandbox-i", recs, "no_stream")
          const retry = yield* store.append("sandbox-i", recs, "no_stream")
          expect(retry.nextExpectedRevision).toBe(1)
          const all = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAll()))
          expect(all.length).toBe(2)
        })
      )
    )

    it.effect("answers chain queries: head, hashes by seq, writers, lookup by id", () =>
      run(
        Effect.gen(function* () {
          const store = yield* EventStore
          const a = newWriter()
          const b = newWriter()
          const ra = [registration(a), ...Array.from({ length: 5 }, (_, i) => nextRecord(a, "sandbox-x", "CommandExecuted", { i }))]
          const rb = [registration(b), nextRecord(b, "sandbox-y", "CommandExecuted", {})]
          for (const r of [...ra, ...rb]) yield* store.append(r.stream, [r], "any")
          expect(yield* store.chainHead(a.writerId)).toEqual({ seq: 5, hash: ra[5]!.hash })
          expect(yield* store.chainHead("0000000000000000")).toBe(null)
          expect(yield* store.chainHashes(a.writerId, 1, 4)).toEqual(ra.slice(1, 4).map((r) => r.hash))
          expect([...(yield* store.writers)].sort()).toEqual([a.writerId, b.writerId].sort())
          expect((yield* store.findById(rb[1]!.id))?.record).toEqual(rb[1])
          expect(yield* store.findById("00000000-0000-7000-8000-000000000000")).toBe(null)
        })
      )
    )
  })
}
