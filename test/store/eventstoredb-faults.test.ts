// Connections cut in the middle of appends and subscriptions, by the protocol double: an append is
// reported done only when the server confirmed it, a failed one left nothing behind, and no retry
// ever stores a record twice.
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Stream } from "effect"
import { verifyLedger } from "../../src/adapters/ledger/verify.js"
import { EventStore } from "../../src/adapters/store/event-store.js"
import { EventStoreDbStoreLive } from "../../src/adapters/store/eventstoredb/eventstoredb-store.js"
import { appendEvents, esdbLedgerLayer, openEsdbStore } from "../adapters/store/esdb-fixture.js"
import { removeDir, tempDir } from "../support/ledger-fixture.js"
import { newWriter, nextRecord } from "../support/record-builder.js"
import { esdbDouble, type EsdbDouble } from "./esdb-double/esdb-double.js"

const copiesOf = (double: EsdbDouble, id: string) => double.log.events.filter((e) => e.id === id).length

for (const batchAppend of [true, false]) {
  const server = batchAppend ? "BatchAppend" : "Append only"
  describe(`EventStoreDB adapter, connection cut mid-append (double, ${server})`, () => {
    it.live("confirms an append whose reply was lost after the commit, and stores it once", () =>
      Effect.gen(function* () {
        const double = yield* esdbDouble({ batchAppend })
        const store = yield* openEsdbStore({ connection: double.connection })
        const w = newWriter()
        const recs = [nextRecord(w, "sandbox-k", "SandboxLaunched", {}), nextRecord(w, "sandbox-k", "CommandExecuted", {})]
        double.dropAppends("after-commit")
        const result = yield* store.append("sandbox-k", recs, "no_stream")
        expect(result.nextExpectedRevision).toBe(1)
        expect(result.positions.length).toBe(2)
        for (const r of recs) expect(copiesOf(double, r.id)).toBe(1)
        const again = yield* store.append("sandbox-k", recs, "no_stream")
        expect(again.positions).toEqual(result.positions)
        for (const r of recs) expect(copiesOf(double, r.id)).toBe(1)
      }).pipe(Effect.scoped)
    )

    it.live("writes an append cut before the commit once, after reconnecting", () =>
      Effect.gen(function* () {
        const double = yield* esdbDouble({ batchAppend })
        const store = yield* openEsdbStore({ connection: double.connection })
        const w = newWriter()
        const rec = nextRecord(w, "sandbox-k", "SandboxLaunched", {})
        double.dropAppends("before-commit", 3)
        const result = yield* store.append("sandbox-k", [rec], "no_stream")
        expect(result.nextExpectedRevision).toBe(0)
        expect(copiesOf(double, rec.id)).toBe(1)
        expect(double.appendRequests()).toBeGreaterThanOrEqual(4)
      }).pipe(Effect.scoped)
    )

    it.live("fails an append, with nothing stored, while every attempt is cut before the commit; a later retry stores it once", () =>
      Effect.gen(function* () {
        const double = yield* esdbDouble({ batchAppend })
        const store = yield* openEsdbStore({ connection: double.connection, retryFor: "300 millis" })
        const w = newWriter()
        const rec = nextRecord(w, "sandbox-k", "SandboxLaunched", {})
        double.dropAppends("before-commit", 1_000)
        const failed = yield* Effect.flip(store.append("sandbox-k", [rec], "no_stream"))
        expect(failed._tag).toBe("StoreUnavailable")
        expect(failed.message).toContain("not confirmed")
        expect(copiesOf(double, rec.id)).toBe(0)
        double.clearDrops()
        yield* store.append("sandbox-k", [rec], "no_stream")
        expect(copiesOf(double, rec.id)).toBe(1)
      }).pipe(Effect.scoped)
    )

    it.live("confirms by reading back an append whose every reply was lost, and never stores it twice", () =>
      Effect.gen(function* () {
        const double = yield* esdbDouble({ batchAppend })
        const store = yield* openEsdbStore({ connection: double.connection, retryFor: "300 millis" })
        const w = newWriter()
        const rec = nextRecord(w, "sandbox-k", "SandboxLaunched", {})
        double.dropAppends("after-commit", 1_000)
        const result = yield* store.append("sandbox-k", [rec], "no_stream")
        expect(result.nextExpectedRevision).toBe(0)
        expect(copiesOf(double, rec.id)).toBe(1)
      }).pipe(Effect.scoped)
    )
  })
}

describe("EventStoreDB adapter under repeated connection cuts (double)", () => {
  it.live(
    "keeps two busy ledgers' chains verifiable, with every record stored once",
    () =>
      Effect.gen(function* () {
        const double = yield* esdbDouble()
        const dirs = [tempDir("hv-esdb-a-"), tempDir("hv-esdb-b-")]
        // Every 25th append request or so has its connection cut, before or after the commit.
        let lastCut = 0
        const chaos = yield* Effect.fork(
          Effect.forever(
            Effect.sleep("5 millis").pipe(
              Effect.zipRight(
                Effect.sync(() => {
                  if (double.armedDrops() > 0 || double.appendRequests() - lastCut < 25) return
                  lastCut = double.appendRequests()
                  double.dropAppends(Math.random() < 0.5 ? "before-commit" : "after-commit")
                })
              )
            )
          )
        )
        yield* Effect.all(
          dirs.map((dir, k) => appendEvents(1_000, 8, `w${k}`).pipe(Effect.provide(esdbLedgerLayer(dir, { connection: double.connection })), Effect.scoped)),
          { concurrency: "unbounded" }
        )
        yield* Fiber.interrupt(chaos)
        double.clearDrops()
        const report = yield* Effect.flatMap(EventStore, (s) => verifyLedger(s, { mode: "full" })).pipe(
          Effect.provide(EventStoreDbStoreLive({ connection: double.connection })),
          Effect.scoped
        )
        expect(report.writers.map((w) => w.finding)).toEqual([null, null])
        expect(report.ok).toBe(true)
        const ids = double.log.events.map((e) => e.id)
        expect(new Set(ids).size).toBe(ids.length)
        expect(lastCut).toBeGreaterThan(100)
        dirs.forEach(removeDir)
      }).pipe(Effect.scoped),
    120_000
  )

  it.live("keeps a subscription free of gaps and duplicates across cut connections", () =>
    Effect.gen(function* () {
      const double = yield* esdbDouble()
      const store = yield* openEsdbStore({ connection: double.connection })
      const w = newWriter()
      const ids: Array<string> = []
      const fiber = yield* Effect.fork(Stream.runCollect(Stream.take(store.subscribeAll(), 300)))
      for (let i = 0; i < 300; i++) {
        const r = nextRecord(w, `sandbox-${i % 5}`, "CommandExecuted", { i })
        ids.push(r.id)
        yield* store.append(r.stream, [r], "any")
        if (i % 40 === 20) {
          double.cutConnections()
          yield* Effect.sleep("5 millis")
        }
      }
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(seen.map((s) => s.record.id)).toEqual(ids)
    }).pipe(Effect.scoped, Effect.timeout("30 seconds"))
  )
})
