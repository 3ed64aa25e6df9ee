// Store benchmark (issue 8): signed appends/s through the Ledger with concurrent appenders, and
// readAll records/s, for sqlite and for the EventStoreDB adapter over the in-process protocol double
// (client and "server" share one thread here, so its figures are a floor, not a server's).
// Usage: node --import tsx bench/store.ts [--records 5000] [--appenders 16]
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, Stream } from "effect"
import { Ledger, LedgerLive } from "../src/adapters/ledger/ledger.js"
import { EventStore } from "../src/adapters/store/event-store.js"
import { EventStoreDbStoreLive } from "../src/adapters/store/eventstoredb/eventstoredb-store.js"
import { SqliteStoreLive } from "../src/adapters/store/sqlite/sqlite-store.js"
import { startEsdbDouble } from "../test/store/esdb-double/esdb-double.js"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const RECORDS = arg("records", 5_000)
const APPENDERS = arg("appenders", 16)

const event = (i: number) => ({ type: "CommandExecuted", data: { argv: ["python3", "-c", `print(${i})`], exitCode: 0, durationMs: 3 }, sensitive: ["argv"] })

const measure = (store: Layer.Layer<EventStore, unknown>) =>
  Effect.gen(function* () {
    const dataDir = mkdtempSync(join(tmpdir(), "hv-bench-store-"))
    const appendSeconds = yield* Effect.gen(function* () {
      const ledger = yield* Ledger
      let next = 0
      const appender = Effect.gen(function* () {
        while (next < RECORDS) {
          const i = next++
          yield* ledger.append(`sandbox-b${i % 32}`, [event(i)], { actor: { kind: "system", id: "bench" } })
        }
      })
      const started = performance.now()
      yield* Effect.all(Array.from({ length: APPENDERS }, () => appender), { concurrency: "unbounded", discard: true })
      return (performance.now() - started) / 1000
    }).pipe(Effect.provide(Layer.merge(store, LedgerLive({ dataDir, checkpointEveryRecords: 10_000 }).pipe(Layer.provide(store)))), Effect.scoped)
    const read = yield* Effect.gen(function* () {
      const s = yield* EventStore
      const started = performance.now()
      const records = yield* Stream.runCount(s.readAll())
      return { records, seconds: (performance.now() - started) / 1000 }
    }).pipe(Effect.provide(store), Effect.scoped)
    rmSync(dataDir, { recursive: true, force: true })
    return {
      appendsPerSecond: Math.round(RECORDS / appendSeconds),
      readAllRecordsPerSecond: Math.round(read.records / read.seconds),
      recordsRead: read.records
    }
  })

const main = Effect.gen(function* () {
  const dir = mkdtempSync(join(tmpdir(), "hv-bench-sqlite-"))
  const sqlite = yield* measure(SqliteStoreLive({ file: join(dir, "ledger.db") }))
  rmSync(dir, { recursive: true, force: true })
  const double = yield* Effect.promise(() => startEsdbDouble())
  const esdb = yield* measure(EventStoreDbStoreLive({ connection: double.connection }))
  yield* Effect.promise(() => double.close())
  return {
    records: RECORDS,
    appenders: APPENDERS,
    sqlite,
    eventstoredbDouble: esdb,
    note: "eventstoredbDouble: the adapter over gRPC to the in-process protocol double (one thread for both sides)"
  }
})

Effect.runPromise(main).then(
  (result) => console.log(JSON.stringify(result, null, 2)),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
