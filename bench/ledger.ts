// Ledger benchmark (issue 3): durable signed appends/s at batch sizes 1, 32 and 256 with concurrent
// appenders, append latency, and verify --fast / --full throughput on a large ledger.
// Usage: node --import tsx bench/ledger.ts [--records 1000000] [--seconds 5]
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { Ledger, LedgerLive } from "../src/adapters/ledger/ledger.js"
import { verifyLedger } from "../src/adapters/ledger/verify.js"
import { EventStore } from "../src/adapters/store/event-store.js"
import { SqliteStoreLive } from "../src/adapters/store/sqlite/sqlite-store.js"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const RECORDS = arg("records", 1_000_000)
const SECONDS = arg("seconds", 5)
const APPENDERS = arg("appenders", 16)

const writer = (dataDir: string) => {
  const store = SqliteStoreLive({ file: join(dataDir, "ledger.db") })
  return Layer.merge(store, LedgerLive({ dataDir, checkpointEveryRecords: 10_000 }).pipe(Layer.provide(store)))
}

const event = (i: number) => ({ type: "CommandExecuted", data: { argv: ["python3", "-c", `print(${i})`], exitCode: 0, durationMs: 3 }, sensitive: ["argv"] })
const quantile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0

/** `APPENDERS` fibers append batches of `batch` records for `SECONDS`; returns rate and latencies. */
const appendRun = (batch: number) =>
  Effect.gen(function* () {
    const dir = mkdtempSync(join(tmpdir(), "hv-bench-"))
    const result = yield* Effect.gen(function* () {
      const ledger = yield* Ledger
      const latencies: Array<number> = []
      let records = 0
      const until = performance.now() + SECONDS * 1000
      const appender = (n: number) =>
        Effect.gen(function* () {
          let i = 0
          while (performance.now() < until) {
            const t = performance.now()
            yield* ledger.append(`sandbox-b${n}`, Array.from({ length: batch }, (_, j) => event(i + j)), { actor: { kind: "system", id: "bench" } })
            latencies.push(performance.now() - t)
            records += batch
            i += batch
          }
        })
      const started = performance.now()
      yield* Effect.all(Array.from({ length: APPENDERS }, (_, n) => appender(n)), { concurrency: "unbounded" })
      const seconds = (performance.now() - started) / 1000
      latencies.sort((a, b) => a - b)
      return {
        batch,
        appenders: APPENDERS,
        records,
        appendsPerSecond: Math.round(records / seconds),
        latencyMs: { p50: +quantile(latencies, 0.5).toFixed(2), p99: +quantile(latencies, 0.99).toFixed(2) }
      }
    }).pipe(Effect.provide(writer(dir)), Effect.scoped)
    rmSync(dir, { recursive: true, force: true })
    return result
  })

const fill = (dir: string, n: number) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    const started = performance.now()
    let written = 0
    const appender = (k: number) =>
      Effect.gen(function* () {
        while (written < n) {
          const size = Math.min(256, n - written)
          written += size
          yield* ledger.append(`sandbox-f${k}`, Array.from({ length: size }, (_, j) => event(j)), { actor: { kind: "system", id: "bench" } })
        }
      })
    yield* Effect.all(Array.from({ length: 8 }, (_, k) => appender(k)), { concurrency: "unbounded" })
    return (performance.now() - started) / 1000
  }).pipe(Effect.provide(writer(dir)), Effect.scoped)

const verifyRun = (dir: string, mode: "fast" | "full", workers: number) =>
  Effect.flatMap(EventStore, (store) => verifyLedger(store, { mode, workers })).pipe(
    Effect.provide(SqliteStoreLive({ file: join(dir, "ledger.db"), readonly: true })),
    Effect.scoped,
    Effect.map((r) => ({ mode, workers, records: r.records, ok: r.ok, seconds: +r.seconds.toFixed(2), recordsPerSecond: Math.round(r.records / r.seconds) }))
  )

const main = Effect.gen(function* () {
  const appends = []
  for (const batch of [1, 32, 256]) appends.push(yield* appendRun(batch))
  const dir = mkdtempSync(join(tmpdir(), "hv-bench-verify-"))
  const fillSeconds = yield* fill(dir, RECORDS)
  const verify = []
  for (const [mode, workers] of [["fast", 1], ["full", 1], ["full", 2]] as const) verify.push(yield* verifyRun(dir, mode, workers))
  rmSync(dir, { recursive: true, force: true })
  return {
    bench: "ledger",
    machine: { cpus: (await_cpus()), node: process.version },
    appends,
    fill: { records: RECORDS, seconds: +fillSeconds.toFixed(1), appendsPerSecond: Math.round(RECORDS / fillSeconds) },
    verify,
    targets: { appendsPerSecond: 20_000, fastRecordsPerSecond: 300_000, fullRecordsPerSecondTwoWorkers: 12_000 }
  }
})

function await_cpus() {
  return (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 0
}

Effect.runPromise(main).then(
  (result) => console.log(JSON.stringify(result, null, 2)),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
