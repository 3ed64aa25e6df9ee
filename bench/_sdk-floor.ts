// What the SDK client and this machine cost a tool call before any server work: the SDK's own Client
// over streamable HTTP against a canned server in another process that answers every tools/call with
// a fixed result shaped like an `exec` answer, at once or after a wait: the server's thread asleep
// (Atomics.wait, a futex with a timeout: no timer slop), or a busy loop that keeps the server's CPU
// awake so that only the client sleeps. Reported: round trip minus the wait.
// An `exec` answer comes after the command ran (~7–10 ms), so the waited rows are the floor that
// bench/mcp.ts's exec overhead is read against; describe_environment is answered at once.
// Not part of `npm run bench` (a reference, not a target).
// Usage: node --import tsx bench/_sdk-floor.ts [--calls 300]
import { spawn } from "node:child_process"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { quantile } from "./_mcp-daemon.js"

const i = process.argv.indexOf("--calls")
const CALLS = i >= 0 ? Number(process.argv[i + 1]) : 300
const WARMUP = 50

// The server: plain node:http, JSON answers, session id on every answer (argv: wait ms, "sleep"|"spin").
const SERVER = `
const http = require("node:http")
const wait = Number(process.argv[1]), spin = process.argv[2] === "spin"
const cell = new Int32Array(new SharedArrayBuffer(4))
const structured = { exit_code: 0, signal: null, stdout: "", stderr: "", stdout_truncated: false, stderr_truncated: false,
  timed_out: false, oom_killed: false, duration_ms: 7.1, environment: "00000000-0000-4000-8000-000000000000", exec_id: "00000000-0000-4000-8000-000000000001" }
const toolResult = { content: [{ type: "text", text: JSON.stringify(structured) }], structuredContent: structured }
const server = http.createServer((req, res) => {
  if (req.method !== "POST") { res.writeHead(405).end(); return }
  const chunks = []
  req.on("data", (c) => chunks.push(c)).on("end", () => {
    const m = JSON.parse(Buffer.concat(chunks).toString("utf8"))
    const headers = { "content-type": "application/json", "mcp-session-id": "floor" }
    if (m.id === undefined) { res.writeHead(202).end(); return }
    if (m.method === "initialize") {
      res.writeHead(200, headers).end(JSON.stringify({ jsonrpc: "2.0", id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: "floor", version: "1" } } }))
      return
    }
    const answer = () => res.writeHead(200, headers).end(JSON.stringify({ jsonrpc: "2.0", id: m.id, result: toolResult }))
    if (wait === 0) return answer()
    if (!spin) {
      Atomics.wait(cell, 0, 0, wait)
      return answer()
    }
    const until = performance.now() + wait
    while (performance.now() < until);
    answer()
  })
})
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"))
`

const measure = async (waitMs: number, mode: "sleep" | "spin") => {
  const server = spawn(process.execPath, ["-e", SERVER, String(waitMs), mode], { stdio: ["ignore", "pipe", "inherit"] })
  try {
    const port = await new Promise<string>((done, fail) => {
      server.stdout!.once("data", (c: Buffer) => done(String(c).trim()))
      server.once("exit", (code) => fail(new Error(`the canned server exited (${code})`)))
    })
    const client = new Client({ name: "sdk-floor", version: "1" })
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`)))
    const above: Array<number> = []
    for (let n = 0; n < WARMUP + CALLS; n++) {
      const t = performance.now()
      await client.callTool({ name: "exec", arguments: { environment: "e", argv: ["true"] } })
      if (n >= WARMUP) above.push(performance.now() - t - waitMs)
    }
    await client.close()
    return { server_wait_ms: waitMs, server: waitMs === 0 ? "answers at once" : mode === "spin" ? "busy loop" : "asleep", calls: CALLS, above_wait_p50_ms: quantile(above, 0.5), above_wait_p99_ms: quantile(above, 0.99) }
  } finally {
    server.kill()
  }
}

const rows = []
for (const [waitMs, mode] of [[0, "sleep"], [10, "sleep"], [10, "spin"], [0, "sleep"]] as const) rows.push(await measure(waitMs, mode))
console.log(JSON.stringify({ bench: "sdk-floor", transport: "streamable HTTP, 127.0.0.1, JSON answers, canned server in another process", rows }, null, 2))
