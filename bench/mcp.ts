// MCP benchmark (issue 7): the daemon (`hydravisor mcp --port 0`, its own process) and SDK clients over
// streamable HTTP on 127.0.0.1. Tool-call overhead p50/p99 for describe_environment and `exec true`
// (round trip minus the process's own time, `duration_ms`; also minus the runner's whole exec call,
// `CommandExecuted.runnerMs`, read from the ledger afterwards), then calls/s from 20 concurrent clients
// with the number of failed calls. Every call is recorded in the ledger, so the figures include that.
// Also: request_environment's time (the daemon's first, which starts the monitors' tracers, then
// `--launches` more one after another), each ready with its monitors running when it returns.
// Usage: node --import tsx bench/mcp.ts [--calls 400] [--seconds 5] [--clients 20] [--launches 10] [--from-source]
import { join, resolve } from "node:path"
import Database from "better-sqlite3"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { call, ensureBuilt, quantile, startDaemon, timedCall } from "./_mcp-daemon.js"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const CALLS = arg("calls", 400)
const SECONDS = arg("seconds", 5)
const CLIENTS = arg("clients", 20)
const LAUNCHES = arg("launches", 10)
const root = resolve(import.meta.dirname, "..")
// The daemon as installed runs the compiled CLI (bin/hydravisor.js → dist/, built by `npm ci`);
// `--from-source` runs src/main.ts under tsx instead (heavier: its loader thread and caches).
const fromSource = process.argv.includes("--from-source")
if (!fromSource) ensureBuilt(root)
const daemon = await startDaemon(root, { fromSource })

const timed = async (client: Client, name: string, args: Record<string, unknown>, n: number) => {
  const rtt: Array<number> = []
  const runner: Array<number> = []
  for (let i = 0; i < n; i++) {
    const one = await timedCall(client, name, args)
    rtt.push(one.rtt)
    runner.push(one.runner)
  }
  return { rtt, runner, overhead: rtt.map((r, i) => r - runner[i]!) }
}

/** `clients` clients calling in a loop for SECONDS; each gets its own environment from `target`. */
const load = async (clients: ReadonlyArray<Client>, target: (i: number) => string, name: string, args: (environment: string) => Record<string, unknown>) => {
  let calls = 0
  let failed = 0
  const errors = new Set<string>()
  const until = performance.now() + SECONDS * 1000
  const started = performance.now()
  await Promise.all(
    clients.map(async (client, i) => {
      while (performance.now() < until) {
        try {
          await call(client, name, args(target(i)))
        } catch (e) {
          failed++
          errors.add(String(e).slice(0, 200))
        }
        calls++
      }
    })
  )
  const seconds = (performance.now() - started) / 1000
  return { clients: clients.length, seconds: +seconds.toFixed(2), calls, calls_per_s: +(calls / seconds).toFixed(1), failed, ...(errors.size > 0 ? { errors: [...errors].slice(0, 3) } : {}) }
}

let result: Record<string, any> = {}
let timedExec: { rtt: Array<number>; runner: Array<number> } = { rtt: [], runner: [] }
let benchEnvironment = ""
try {
  const client = await daemon.connect()
  const firstLaunch = performance.now()
  const env0 = await call(client, "request_environment", { template: "python-dev", name: "bench-0" })
  const firstLaunchMs = performance.now() - firstLaunch
  benchEnvironment = env0.id
  await timed(client, "describe_environment", { environment: env0.id }, 50)
  await timed(client, "exec", { environment: env0.id, argv: ["true"] }, 20)
  const describe = await timed(client, "describe_environment", { environment: env0.id }, CALLS)
  const exec = await timed(client, "exec", { environment: env0.id, argv: ["true"] }, Math.max(50, Math.floor(CALLS / 2)))
  // Launches while one sandbox runs (its monitors' tracers already attached), one after another.
  const launches: Array<number> = []
  const launched: Array<string> = []
  for (let i = 0; i < LAUNCHES; i++) {
    const t = performance.now()
    launched.push((await call(client, "request_environment", { template: "python-dev", name: `bench-launch-${i}` })).id)
    launches.push(performance.now() - t)
  }
  for (const id of launched) await call(client, "release_environment", { environment: id })

  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => daemon.connect()))
  const envs = await Promise.all(clients.map((c, i) => call(c, "request_environment", { template: "python-dev", name: `bench-load-${i}` })))
  const concurrentDescribe = await load(clients, (i) => envs[i]!.id, "describe_environment", (environment) => ({ environment }))
  const concurrentExec = await load(clients, (i) => envs[i]!.id, "exec", (environment) => ({ environment, argv: ["true"] }))
  for (const [i, c] of clients.entries()) await call(c, "release_environment", { environment: envs[i]!.id })
  await call(client, "release_environment", { environment: env0.id })

  result = {
    transport: "streamable HTTP, 127.0.0.1, JSON responses; every call appended to the ledger (ToolCalled) before it is answered",
    describe_environment: { calls: describe.rtt.length, overhead_p50_ms: quantile(describe.rtt, 0.5), overhead_p99_ms: quantile(describe.rtt, 0.99) },
    exec_true: {
      calls: exec.rtt.length,
      overhead_p50_ms: quantile(exec.overhead, 0.5),
      overhead_p99_ms: quantile(exec.overhead, 0.99),
      round_trip_p50_ms: quantile(exec.rtt, 0.5),
      runner_exec_p50_ms: quantile(exec.runner, 0.5)
    },
    request_environment: { first_ms: +firstLaunchMs.toFixed(2), calls: launches.length, p50_ms: quantile(launches, 0.5), max_ms: quantile(launches, 1) },
    concurrent_describe: concurrentDescribe,
    concurrent_exec_true: concurrentExec,
    targets: { overhead_p50_ms: 5, failed_calls: 0 },
    met: {
      describe_overhead_p50: quantile(describe.rtt, 0.5) <= 5,
      exec_overhead_p50: quantile(exec.overhead, 0.5) <= 5,
      no_failed_calls: concurrentDescribe.failed === 0 && concurrentExec.failed === 0
    }
  }
  timedExec = exec
  for (const c of [client, ...clients]) await c.close()
} finally {
  await daemon.stop()
}

// Where an exec call's time goes, from the ledger: ToolCalled.durationMs is the tool's own run (the
// sandbox service: its records, output blobs and the runner), the rest of the round trip is MCP's.
const db = new Database(join(daemon.dataDir, "ledger.db"), { readonly: true })
const bodies = (db.prepare("SELECT body FROM records ORDER BY pos").pluck().all() as Array<string>).map(
  (b) => JSON.parse(b) as { type: string; stream: string; data: { tool?: string; durationMs?: number; runnerMs?: number } }
)
const execCalls = bodies.filter((r) => r.type === "ToolCalled" && r.data.tool === "exec").slice(20, 20 + timedExec.rtt.length)
// The runner's whole call (its preparation, the process, collecting the output), from CommandExecuted.
const runnerCalls = bodies.filter((r) => r.type === "CommandExecuted" && r.stream === `sandbox-${benchEnvironment}`).slice(20, 20 + timedExec.rtt.length)
db.close()
daemon.remove()
const toolMs = execCalls.map((r) => r.data.durationMs ?? 0)
result["exec_true"]["sandbox_service_p50_ms"] = quantile(toolMs.map((t, i) => t - (timedExec.runner[i] ?? 0)), 0.5)
result["exec_true"]["mcp_layer_p50_ms"] = quantile(timedExec.rtt.map((r, i) => r - (toolMs[i] ?? 0)), 0.5)
// The same overhead measured above the runner's whole exec call instead of the process alone: what
// MCP and the ledger add on top of calling the runner directly.
const aboveRunnerCall = timedExec.rtt.map((r, i) => r - (runnerCalls[i]?.data.runnerMs ?? 0))
result["exec_true"]["runner_call_p50_ms"] = quantile(runnerCalls.map((r) => r.data.runnerMs ?? 0), 0.5)
result["exec_true"]["overhead_above_runner_call_p50_ms"] = quantile(aboveRunnerCall, 0.5)
result["exec_true"]["overhead_above_runner_call_p99_ms"] = quantile(aboveRunnerCall, 0.99)
console.log(JSON.stringify(result, null, 2))
