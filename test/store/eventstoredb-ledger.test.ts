// Real ledgers over the EventStoreDB adapter and the protocol double: several writers on one store,
// tampering found per writer, restarts, and a chain index that lags its records.
import { EventStoreDBClient } from "@eventstore/db-client"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Ledger } from "../../src/adapters/ledger/ledger.js"
import { verifyLedger } from "../../src/adapters/ledger/verify.js"
import { EventStore } from "../../src/adapters/store/event-store.js"
import { EventStoreDbStoreLive } from "../../src/adapters/store/eventstoredb/eventstoredb-store.js"
import { toEventData } from "../../src/adapters/store/eventstoredb/mapping.js"
import { appendEvents, esdbLedgerLayer, openEsdbStore } from "../adapters/store/esdb-fixture.js"
import { newWriter, nextRecord, registration } from "../support/record-builder.js"
import { removeDir, tempDir } from "../support/ledger-fixture.js"
import { esdbDouble } from "./esdb-double/esdb-double.js"

describe("EventStoreDB adapter with two ledgers on the protocol double", () => {
  it.live(
    "keeps two interleaved chains of 10,000 appends each verifiable, and finds tampering in one writer only",
    () =>
      Effect.gen(function* () {
        const double = yield* esdbDouble()
        const dirs = [tempDir("hv-esdb-a-"), tempDir("hv-esdb-b-")]
        const writers = yield* Effect.all(
          dirs.map((dir, k) =>
            Effect.gen(function* () {
              const ledger = yield* Ledger
              yield* appendEvents(10_000, 16, `w${k}`)
              return ledger.writerId
            }).pipe(Effect.provide(esdbLedgerLayer(dir, { connection: double.connection })), Effect.scoped)
          ),
          { concurrency: "unbounded" }
        )
        const [a, b] = writers as [string, string]
        const store = EventStoreDbStoreLive({ connection: double.connection })
        const report = yield* Effect.flatMap(EventStore, (s) => verifyLedger(s, { mode: "full" })).pipe(Effect.provide(store), Effect.scoped)
        expect(report.writers.map((w) => [w.writer, w.finding])).toEqual(expect.arrayContaining([[a, null], [b, null]]))
        expect(report.ok).toBe(true)
        for (const w of report.writers) expect(w.lastSeq).toBeGreaterThanOrEqual(10_000)
        // Tamper with writer a's record at seq 5000, found by its ESDB metadata.
        const target = double.log.events.find((e) => {
          const meta = e.metadata.length > 0 ? (JSON.parse(Buffer.from(e.metadata).toString("utf8")) as { chain?: { writer: string; seq: number } }) : {}
          return meta.chain?.writer === a && meta.chain.seq === 5_000
        })!
        double.tamper(target.id, (text) => text.replace('"exitCode":0', '"exitCode":1'))
        const [both, onlyB] = yield* Effect.flatMap(EventStore, (s) =>
          Effect.all([verifyLedger(s, { mode: "full" }), verifyLedger(s, { mode: "full", writer: b })])
        ).pipe(Effect.provide(store), Effect.scoped)
        expect(both.ok).toBe(false)
        expect(both.writers.find((w) => w.writer === a)?.finding).toMatchObject({ seq: 5_000, problem: "hash-mismatch", id: target.id })
        expect(both.writers.find((w) => w.writer === b)?.finding).toBe(null)
        expect(onlyB.ok).toBe(true)
        expect(onlyB.writers.map((w) => w.writer)).toEqual([b])
        dirs.forEach(removeDir)
      }).pipe(Effect.scoped),
    240_000
  )

  it.live("recovers its head after a restart and keeps one gap-free chain", () =>
    Effect.gen(function* () {
      const double = yield* esdbDouble()
      const dir = tempDir("hv-esdb-r-")
      for (let run = 0; run < 2; run++)
        yield* appendEvents(40, 4, `r${run}`).pipe(Effect.provide(esdbLedgerLayer(dir, { connection: double.connection }, { checkpointEveryRecords: 10 })), Effect.scoped)
      const store = yield* openEsdbStore({ connection: double.connection })
      const report = yield* verifyLedger(store, { mode: "full" })
      expect(report.ok).toBe(true)
      expect(report.writers.length).toBe(1)
      expect(report.writers[0]!.checkpoints).toBeGreaterThanOrEqual(8)
      removeDir(dir)
    }).pipe(Effect.scoped)
  )

  it.live("finds records its chain index missed (a crash between the two writes) and repairs the index", () =>
    Effect.gen(function* () {
      const double = yield* esdbDouble()
      const store = yield* openEsdbStore({ connection: double.connection })
      const w = newWriter()
      const records = [registration(w), ...Array.from({ length: 6 }, (_, i) => nextRecord(w, `sandbox-${i % 2}`, "CommandExecuted", { i }))]
      for (const r of records.slice(0, 3)) yield* store.append(r.stream, [r], "any")
      // The rest reach the server without their index entries, as if the writer died in between.
      const client = EventStoreDBClient.connectionString(double.connection)
      for (const r of records.slice(3))
        yield* Effect.promise(() => client.appendToStream(r.stream, toEventData(r), { expectedRevision: r.revision === 0 ? "no_stream" : BigInt(r.revision - 1) }))
      yield* Effect.promise(() => client.dispose())
      const indexOf = () => double.log.events.filter((e) => e.stream === `chain-${w.writerId}`).length
      expect(indexOf()).toBe(3)
      expect(yield* store.chainHead(w.writerId)).toEqual({ seq: 6, hash: records[6]!.hash })
      expect(indexOf()).toBe(7)
      expect(yield* store.chainHashes(w.writerId, 0, 7)).toEqual(records.map((r) => r.hash))
      expect(yield* store.chainHashes(w.writerId, 5, 9)).toEqual(records.slice(5).map((r) => r.hash))
    }).pipe(Effect.scoped)
  )
})

