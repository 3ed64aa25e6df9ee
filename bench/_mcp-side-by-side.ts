// Two builds of the daemon compared side by side: one daemon from each checkout, each with its own SDK
// client and environment, and calls alternated between them (ABBA order), so that both meet the same
// host. On this VM the host moves bench/mcp.ts by 2–3 ms within minutes; this comparison does not
// move with it. Two daemons on two cores run slower than one: read the difference, not the figures.
// Not part of `npm run bench` (it needs a second checkout, e.g. `git worktree add /tmp/before <commit>`
// with `ln -s $PWD/node_modules /tmp/before/`).
// Usage: node --import tsx bench/_mcp-side-by-side.ts <checkout A> <checkout B> [--tool exec|describe_environment] [--calls 300]
import { resolve } from "node:path"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { call, ensureBuilt, quantile, startDaemon, timedCall, type BenchDaemon } from "./_mcp-daemon.js"

const flag = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1]! : fallback
}
const tool = flag("tool", "exec")
const calls = Number(flag("calls", "300"))
const roots = process.argv.slice(2).filter((a, i, all) => !a.startsWith("--") && !all[i - 1]?.startsWith("--")).map((r) => resolve(r))
if (roots.length !== 2 || !["exec", "describe_environment"].includes(tool)) {
  process.stderr.write("usage: node --import tsx bench/_mcp-side-by-side.ts <checkout A> <checkout B> [--tool exec|describe_environment] [--calls 300]\n")
  process.exit(2)
}

interface Side {
  readonly root: string
  readonly daemon: BenchDaemon
  readonly client: Client
  readonly environment: string
  readonly overhead: Array<number>
}
const sides: Array<Side> = []
for (const root of roots) {
  ensureBuilt(root)
  const daemon = await startDaemon(root)
  const client = await daemon.connect()
  const environment = (await call(client, "request_environment", { template: "python-dev", name: "side" })).id as string
  sides.push({ root, daemon, client, environment, overhead: [] })
}
try {
  const once = (side: Side) =>
    timedCall(side.client, tool, tool === "exec" ? { environment: side.environment, argv: ["true"] } : { environment: side.environment })
  for (let i = 0; i < 40; i++) for (const side of sides) await once(side)
  for (let i = 0; i < calls; i++) for (const side of i % 2 === 0 ? sides : [...sides].reverse()) side.overhead.push((await once(side)).overhead)
  const figures = sides.map((s) => ({ checkout: s.root, overhead_p50_ms: quantile(s.overhead, 0.5), overhead_p90_ms: quantile(s.overhead, 0.9), overhead_p99_ms: quantile(s.overhead, 0.99) }))
  console.log(JSON.stringify({ tool, calls, measured: tool === "exec" ? "round trip minus the process's own time" : "round trip", sides: figures, b_minus_a_p50_ms: +(figures[1]!.overhead_p50_ms - figures[0]!.overhead_p50_ms).toFixed(2) }, null, 2))
} finally {
  for (const side of sides) {
    await call(side.client, "release_environment", { environment: side.environment }).catch(() => undefined)
    await side.client.close()
    await side.daemon.stop()
    side.daemon.remove()
  }
}
