// Network monitor benchmark: proxied connections/s through the egress proxy (in a network namespace
// this bench creates, to a server on the host's loopback that the allowlist names explicitly),
// request latency through the proxy (decision + connect + answer) p50/p99, the pure decision's
// latency, and the daemon-side CPU per 1,000 recorded connections (proxy, recorder, ledger).
// Usage: node --import tsx bench/_monitors-network.ts [--requests 2000]
import { execFileSync, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { Effect, Layer } from "effect"
import { sensitiveFields } from "../src/domain/events/catalogue.js"
import { Ledger, LedgerLive } from "../src/adapters/ledger/ledger.js"
import { ledgerSink } from "../src/adapters/monitors/ledger-sink.js"
import { parseIp } from "../src/adapters/monitors/network/address.js"
import type { IpAddress } from "../src/adapters/monitors/network/address.js"
import { compilePolicy, decideConnection } from "../src/adapters/monitors/network/egress-policy.js"
import { make } from "../src/adapters/monitors/network/network-monitor.js"
import { SqliteStoreLive } from "../src/adapters/store/sqlite/sqlite-store.js"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const quantile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0

// runs inside the namespace: N requests through the proxy, 8 at a time; prints latencies as JSON
const CLIENT = `
const http = require("node:http")
const [port, total] = process.argv.slice(1).map(Number)
const agent = new http.Agent({ keepAlive: false })
const latencies = []
let started = 0
const one = () => new Promise((resolve) => {
  const t = process.hrtime.bigint()
  http.get({ host: "127.0.0.1", port: 3128, path: "http://127.0.0.1:" + port + "/", agent }, (res) => {
    res.resume(); res.on("end", () => { latencies.push(Number(process.hrtime.bigint() - t) / 1e6); resolve() })
  }).on("error", () => { latencies.push(NaN); resolve() })
})
const worker = async () => { while (started < total) { started++; await one() } }
const t0 = Date.now()
Promise.all(Array.from({ length: 8 }, worker)).then(() => process.stdout.write(JSON.stringify({ ms: Date.now() - t0, latencies })))
`

const decisionLatency = () => {
  const policy = compilePolicy(
    { mode: "allowlist", allowlist: [{ host: "10.0.0.0/8", port: 443 }, { host: "*.pypi.org" }, { host: "github.com", port: 443 }, { host: "fd00::/8" }] },
    ["192.168.1.10", "10.1.2.3"]
  )
  const address = parseIp("151.101.0.223") as IpAddress
  const samples: Array<number> = []
  for (let i = 0; i < 20_000; i++) {
    const t = process.hrtime.bigint()
    decideConnection(policy, { name: "files.pypi.org", address, port: 443 })
    samples.push(Number(process.hrtime.bigint() - t) / 1e3)
  }
  samples.sort((a, b) => a - b)
  return { p50Us: quantile(samples, 0.5), p99Us: quantile(samples, 0.99) }
}

export const benchNetwork = async (): Promise<Record<string, number>> => {
  const requests = arg("requests", 2000)
  const ns = `hvbench-${randomBytes(3).toString("hex")}`
  const dataDir = mkdtempSync(join(tmpdir(), "hv-bench-net-"))
  execFileSync("ip", ["netns", "add", ns])
  execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"])
  const holder = spawn("ip", ["netns", "exec", ns, "sleep", "3600"], { stdio: "ignore" })
  const server = http.createServer((req, res) => {
    req.resume()
    res.end("ok\n")
  })
  try {
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r))
    const port = (server.address() as AddressInfo).port
    await new Promise((r) => setTimeout(r, 200))
    const pid = holder.pid ?? -1
    const store = SqliteStoreLive({ file: join(dataDir, "ledger.db") })
    const ledgerLayer = Layer.merge(store, LedgerLive({ dataDir, sensitiveFields }).pipe(Layer.provide(store)))
    return await Effect.runPromise(
      Effect.gen(function* () {
        const ledger = yield* Ledger
        const monitor = yield* make({ syscallTrace: "best-effort" }).start(
          {
            sandboxId: "bench-net",
            runner: "bench",
            workspaceDir: dataDir,
            stateDir: dataDir,
            cgroup: "/",
            pid,
            network: { mode: "allowlist", allowlist: [{ host: "127.0.0.1", port }] }
          },
          ledgerSink(ledger, "bench-net", "network")
        )
        const cpuBefore = process.cpuUsage()
        const output = yield* Effect.promise(
          () =>
            new Promise<string>((done, fail) => {
              const client = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", CLIENT, String(port), String(requests)], { stdio: ["ignore", "pipe", "inherit"] })
              let text = ""
              client.stdout.on("data", (c: Buffer) => (text += c.toString()))
              client.on("exit", (code) => (code === 0 ? done(text) : fail(new Error(`client exited ${code}`))))
            })
        )
        yield* monitor.flush
        const cpu = process.cpuUsage(cpuBefore)
        const observed = yield* monitor.observed
        const { ms, latencies } = JSON.parse(output) as { ms: number; latencies: Array<number> }
        const ok = latencies.filter((l) => !Number.isNaN(l)).sort((a, b) => a - b)
        const decision = decisionLatency()
        return {
          requests,
          failedRequests: requests - ok.length,
          proxiedConnectionsPerSecond: Math.round((ok.length / ms) * 1000),
          requestP50Ms: Number(quantile(ok, 0.5).toFixed(2)),
          requestP99Ms: Number(quantile(ok, 0.99).toFixed(2)),
          decisionP50Us: Number(decision.p50Us.toFixed(2)),
          decisionP99Us: Number(decision.p99Us.toFixed(2)),
          recordedConnections: observed,
          cpuMsPer1000Events: Number((((cpu.user + cpu.system) / 1000 / Math.max(1, observed)) * 1000).toFixed(1))
        }
      }).pipe(Effect.scoped, Effect.provide(ledgerLayer))
    )
  } finally {
    server.close()
    holder.kill("SIGKILL")
    try {
      execFileSync("ip", ["netns", "del", ns])
    } catch {
      // already gone
    }
    rmSync(dataDir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(resolve(process.argv[1] ?? "")).href) {
  console.log(JSON.stringify(await benchNetwork(), null, 2))
}
