// What an exec's output costs above `exec true`: the same daemon and SDK client as bench/mcp.ts, calls
// alternated between `true` (no output), `echo hello` (output whose blob is already stored) and an
// echo of new text every call (a new blob: written, fsynced and renamed, its directory fsynced,
// before the record that names it is committed). Overhead = round trip minus the process's own time.
// Not part of `npm run bench`. Usage: node --import tsx bench/_mcp-output.ts [--calls 200]
import { resolve } from "node:path"
import { call, ensureBuilt, quantile, startDaemon, timedCall } from "./_mcp-daemon.js"

const i = process.argv.indexOf("--calls")
const calls = i >= 0 ? Number(process.argv[i + 1]) : 200
const root = resolve(import.meta.dirname, "..")
ensureBuilt(root)
const daemon = await startDaemon(root)
const kinds: Record<string, (n: number) => ReadonlyArray<string>> = {
  exec_true: () => ["true"],
  exec_same_output: () => ["echo", "hello"],
  exec_new_output: (n) => ["echo", `hello ${n} ${Math.random()}`]
}
const overhead: Record<string, Array<number>> = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]))
try {
  const client = await daemon.connect()
  const environment = (await call(client, "request_environment", { template: "python-dev", name: "output" })).id as string
  for (let n = 0; n < calls + 20; n++) {
    for (const [kind, argv] of Object.entries(kinds)) {
      const one = await timedCall(client, "exec", { environment, argv: argv(n) })
      if (n >= 20) overhead[kind]!.push(one.overhead)
    }
  }
  await call(client, "release_environment", { environment })
  await client.close()
  console.log(JSON.stringify({ calls, measured: "round trip minus the process's own time", ...Object.fromEntries(Object.entries(overhead).map(([k, v]) => [k, { overhead_p50_ms: quantile(v, 0.5), overhead_p90_ms: quantile(v, 0.9) }])) }, null, 2))
} finally {
  await daemon.stop()
  daemon.remove()
}
