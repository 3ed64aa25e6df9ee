// File monitor benchmark (issue 5): a separate writer process changes files in a watched workspace;
// the monitor records them in a real SQLite ledger. Figures: sustained events/s (distinct files written
// as fast as possible), end-to-end latency from a write to its durable FileChanged (files written at a
// steady rate), and this process's CPU ms per 1,000 events.
// Usage: node --import tsx bench/_monitors-files.ts [--files 5000] [--paced 400] [--rate 100]
import { spawn } from "node:child_process"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { Effect, Layer } from "effect"
import { blobsDir, makeBlobStore } from "../src/adapters/blobs/blob-store.js"
import { Ledger, LedgerLive } from "../src/adapters/ledger/ledger.js"
import { makeFileMonitor } from "../src/adapters/monitors/files/file-monitor.js"
import { ledgerSink } from "../src/adapters/monitors/ledger-sink.js"
import type { ObservationSink } from "../src/adapters/monitors/monitor.js"
import { SqliteStoreLive } from "../src/adapters/store/sqlite/sqlite-store.js"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}

const quantile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0

/** Writes `count` new files `<prefix><i>` (one write each), `perSecond` a second (0: unpaced); prints each write's Date.now(). */
const WRITER = `
const fs = require("node:fs"); const [dir, prefix, count, perSecond] = process.argv.slice(1);
const times = []; const start = Date.now();
const step = (i) => {
  for (; i < Number(count); i++) {
    if (Number(perSecond) > 0) { const due = start + (i * 1000) / Number(perSecond); if (Date.now() < due) return setTimeout(() => step(i), due - Date.now()) }
    fs.writeFileSync(dir + "/" + prefix + i, "line " + i + "\\n"); times.push(Date.now())
  }
  process.stdout.write(JSON.stringify(times))
};
step(0)`

const writer = (dir: string, prefix: string, count: number, perSecond: number) =>
  Effect.async<Array<number>>((resume) => {
    const child = spawn(process.execPath, ["-e", WRITER, dir, prefix, String(count), String(perSecond)], { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")))
    child.on("close", () => resume(Effect.succeed(JSON.parse(out) as Array<number>)))
  })

export async function benchFiles(): Promise<Record<string, number>> {
  const files = arg("files", 5000)
  const paced = arg("paced", 400)
  const rate = arg("rate", 100)
  const dataDir = mkdtempSync(join(tmpdir(), "hv-bench-files-"))
  const workspace = join(dataDir, "workspace")
  mkdirSync(workspace)
  const store = SqliteStoreLive({ file: join(dataDir, "ledger.db") })
  const ledgerLayer = Layer.merge(store, LedgerLive({ dataDir, checkpointEveryRecords: 10_000 }).pipe(Layer.provide(store)))
  const durableAt = new Map<string, number>()
  const timed = (sink: ObservationSink): ObservationSink => ({
    append: (events) =>
      sink.append(events).pipe(
        Effect.tap(() =>
          Effect.sync(() => {
            const now = Date.now()
            for (const e of events) if (e.type === "FileChanged") durableAt.set(String(e.data["path"]), now)
          })
        )
      )
  })
  try {
    return await Effect.runPromise(
      Effect.gen(function* () {
        const ledger = yield* Ledger
        const monitor = yield* makeFileMonitor({ blobs: makeBlobStore(blobsDir(dataDir)) }).start(
          { sandboxId: "bench-files", runner: "bwrap", workspaceDir: workspace, stateDir: dataDir, cgroup: "", pid: 0, network: { mode: "none" } },
          timed(ledgerSink(ledger, "bench-files", "files"))
        )
        // throughput: distinct files as fast as one writer can create them
        const cpu = process.cpuUsage()
        const before = (yield* monitor.stats).events
        const writes = yield* writer(workspace, "burst-", files, 0)
        yield* monitor.flush
        const cpuUsed = process.cpuUsage(cpu)
        const events = (yield* monitor.stats).events - before
        const lastDurable = Math.max(...[...durableAt.entries()].filter(([p]) => p.startsWith("burst-")).map(([, t]) => t))
        const seconds = (lastDurable - writes[0]!) / 1000
        // latency: a steady `rate` writes/s, each a new file, write → durable event
        const times = yield* writer(workspace, "paced-", paced, rate)
        yield* monitor.flush
        const latencies = times.map((t, i) => (durableAt.get(`paced-${i}`) ?? Number.NaN) - t).sort((a, b) => a - b)
        return {
          files,
          eventsPerSecond: Math.round(events / seconds),
          cpuMsPer1000Events: +(((cpuUsed.user + cpuUsed.system) / 1000 / events) * 1000).toFixed(1),
          pacedWritesPerSecond: rate,
          latencyP50Ms: quantile(latencies, 0.5),
          latencyP99Ms: quantile(latencies, 0.99),
          latencyMaxMs: latencies.at(-1) ?? Number.NaN,
          missingEvents: latencies.filter(Number.isNaN).length
        }
      }).pipe(Effect.scoped, Effect.provide(ledgerLayer))
    )
  } finally {
    rmSync(dataDir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  console.log(JSON.stringify(await benchFiles(), null, 2))
}
