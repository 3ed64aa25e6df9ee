// Issue 7 end to end over streamable HTTP: `hydravisor mcp --port 0` as the daemon, agents with
// tokens from `hydravisor agents add`, the real SDK client on 127.0.0.1. The scripted session, token
// refusals (401 + AccessDenied, never the token), sessions bound to their agent, a fuzz run over
// HTTP, and the CLI still served by the same daemon.
import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { request } from "node:http"
import type { ChildProcess } from "node:child_process"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import fc from "fast-check"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { projectRoot } from "../support/cli.js"
import { addAgent as registerAgent } from "../adapters/mcp/support/host-fixture.js"
import { toolArguments } from "../adapters/mcp/support/arbitraries.js"
import { addAgent, cleanUp, session, startHttpDaemon, verifyCopy, waitForExit, type Session } from "../adapters/mcp/support/cli.js"

let s: Session
let daemon: { child: ChildProcess; url: string; log: () => string }
const tokens: Record<string, string> = {}
const clients: Array<Client> = []

const connect = async (token: string) => {
  const client = new Client({ name: "e2e-http", version: "1" })
  await client.connect(new StreamableHTTPClientTransport(new URL(daemon.url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }))
  clients.push(client)
  return client
}

const structured = async (client: Client, name: string, args: Record<string, unknown>) => {
  const result = await client.callTool({ name, arguments: args })
  if (result.isError) throw new Error(`${name}: ${JSON.stringify(result.content)}`)
  return result.structuredContent as Record<string, any>
}

const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } }

const post = (headers: Record<string, string>, body: unknown = initialize) =>
  fetch(daemon.url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers }, body: JSON.stringify(body) })

beforeAll(async () => {
  s = session()
  tokens["alice"] = await addAgent(s, "alice")
  tokens["bob"] = registerAgent(s.dataDir, { id: "bob" })
  tokens["gone"] = registerAgent(s.dataDir, { id: "gone" })
  tokens["old"] = registerAgent(s.dataDir, { id: "old", expiresAt: new Date(Date.now() - 60_000).toISOString() })
  tokens["demo-agent"] = registerAgent(s.dataDir, { id: "demo-agent" })
  daemon = await startHttpDaemon(s, "--auth-token", "adhoc-secret-for-e2e", "--agent", "helper")
}, 90_000)

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined)
  if (daemon?.child.pid !== undefined) {
    daemon.child.kill("SIGTERM")
    await waitForExit(daemon.child.pid)
  }
  if (s !== undefined) await cleanUp(s)
})

describe("MCP over streamable HTTP", () => {
  it("request, write a file, run a command that reads it, release: every call recorded in order, the ledger verifies", async () => {
    const alice = await connect(tokens["alice"]!)
    const env = await structured(alice, "request_environment", { template: "research-env", name: "http-env" })
    await structured(alice, "write_file", { environment: env.id, path: "calc.py", content: "print(sum(range(10)))\n" })
    expect(await structured(alice, "exec", { environment: env.id, argv: ["python3", "calc.py"] })).toMatchObject({ exit_code: 0, stdout: "45\n" })
    expect(await structured(alice, "release_environment", { environment: env.id })).toMatchObject({ state: "destroyed" })
    const calls = s.records().filter((r) => r.type === "ToolCalled" && r.actor.id === "alice")
    expect(calls.map((r) => r.data.tool)).toEqual(["request_environment", "write_file", "exec", "release_environment"])
    expect(calls.every((r) => r.data.transport === "http" && typeof r.data.session === "string")).toBe(true)
    expect(await verifyCopy(s)).toMatchObject({ ok: true })
  }, 60_000)

  it("refuses a missing, wrong, revoked or expired token with 401 and records each, never the token", async () => {
    const revoked = await s.hv("agents", "revoke", "gone")
    expect(revoked.code).toBe(0)
    const cases: ReadonlyArray<readonly [Record<string, string>, string, string | null]> = [
      [{}, "missing-token", null],
      [{ authorization: "Bearer hv_wrong-token-0000000000000000000000000000000" }, "unknown-token", null],
      [{ authorization: `Bearer ${tokens["gone"]}` }, "revoked-token", "gone"],
      [{ authorization: `Bearer ${tokens["old"]}` }, "expired-token", "old"],
      [{ authorization: `Basic ${tokens["alice"]}` }, "missing-token", null]
    ]
    for (const [headers, reason, agentId] of cases) {
      const before = s.records().filter((r) => r.type === "AccessDenied").length
      const response = await post(headers)
      expect(response.status, reason).toBe(401)
      expect(response.headers.get("www-authenticate")).toContain("Bearer")
      const denied = s.records().filter((r) => r.type === "AccessDenied")
      expect(denied.length).toBe(before + 1)
      expect(denied[denied.length - 1].data).toMatchObject({ transport: "http", reason, agentId, remote: "127.0.0.1" })
    }
    expect(s.records().filter((r) => r.type === "AgentTokenRevoked").map((r) => r.data.agentId)).toEqual(["gone"])
    const bodies = s.bodies().join("\n")
    for (const token of Object.values(tokens)) expect(bodies.includes(token)).toBe(false)
    expect(bodies.includes("hv_wrong-token")).toBe(false)
  }, 60_000)

  it("--auth-token admits one ad-hoc agent, recorded as such", async () => {
    const helper = await connect("adhoc-secret-for-e2e")
    expect(await structured(helper, "list_environments", {})).toEqual({ environments: [] })
    const registered = s.records().filter((r) => r.type === "AgentRegistered" && r.data.agentId === "helper")
    expect(registered.map((r) => r.data.source)).toEqual(["ad-hoc"])
    expect(s.bodies().some((b) => b.includes("adhoc-secret-for-e2e"))).toBe(false)
  })

  it("a session belongs to the agent that opened it: another agent's token with its id is answered 404 and recorded", async () => {
    const opened = await post({ authorization: `Bearer ${tokens["alice"]}` })
    expect(opened.status).toBe(200)
    const sessionId = opened.headers.get("mcp-session-id")!
    const list = { jsonrpc: "2.0", id: 2, method: "tools/list", params: {} }
    const hijack = await post({ authorization: `Bearer ${tokens["bob"]}`, "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" }, list)
    expect(hijack.status).toBe(404)
    const unknown = await post({ authorization: `Bearer ${tokens["bob"]}`, "mcp-session-id": "00000000-0000-4000-8000-000000000000", "mcp-protocol-version": "2025-06-18" }, list)
    expect(unknown.status).toBe(404)
    expect(await hijack.text()).toBe(await unknown.text())
    const denied = s.records().filter((r) => r.type === "AccessDenied")
    expect(denied[denied.length - 1].data).toMatchObject({ reason: "foreign-session", agentId: "bob" })
  })

  it("in an open session, a body that is not JSON is answered 400 (-32700), one over 16 MiB 413, a valid one as usual", async () => {
    const opened = await post({ authorization: `Bearer ${tokens["alice"]}` })
    const headers = { authorization: `Bearer ${tokens["alice"]}`, "mcp-session-id": opened.headers.get("mcp-session-id")!, "mcp-protocol-version": "2025-06-18" }
    const raw = (body: string) =>
      fetch(daemon.url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers }, body })
    const notJson = await raw("{ not json")
    expect(notJson.status).toBe(400)
    expect(await notJson.json()).toMatchObject({ error: { code: -32700, message: "Parse error: Invalid JSON" } })
    const huge = await raw(JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list", params: { pad: "x".repeat(17 * 1024 * 1024) } }))
    expect(huge.status).toBe(413)
    expect(await huge.json()).toMatchObject({ error: { code: -32000, message: expect.stringContaining("Payload Too Large") } })
    const notMessage = await raw(JSON.stringify({ hello: "world" }))
    expect(notMessage.status).toBe(400)
    expect(await notMessage.json()).toMatchObject({ error: { code: -32700 } })
    await raw(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }))
    const listed = await raw(JSON.stringify({ jsonrpc: "2.0", id: 4, method: "tools/list", params: {} }))
    expect(listed.status).toBe(200)
    expect(((await listed.json()) as { result: { tools: Array<{ name: string }> } }).result.tools.map((t) => t.name)).toContain("exec")
  })

  it("serves only its own host names (no DNS rebinding) and only /mcp", async () => {
    const { port } = new URL(daemon.url)
    const status = (path: string, host: string) =>
      new Promise<number>((done) => {
        const req = request({ host: "127.0.0.1", port, path, method: "POST", headers: { host, authorization: `Bearer ${tokens["alice"]}`, "content-type": "application/json" } }, (res) => {
          res.resume()
          done(res.statusCode ?? 0)
        })
        req.end(JSON.stringify(initialize))
      })
    expect(await status("/mcp", `evil.example:${port}`)).toBe(403)
    expect(await status("/other", `127.0.0.1:${port}`)).toBe(404)
  })

  it("keeps answering under fuzzed arguments from two agents, recording every call", async () => {
    const alice = await connect(tokens["alice"]!)
    const bob = await connect(tokens["bob"]!)
    const own = await structured(alice, "request_environment", { template: "research-env", name: "http-fuzz" })
    const other = await structured(bob, "request_environment", { template: "research-env", name: "http-other" })
    const before = s.records().filter((r) => r.type === "ToolCalled").length
    let calls = 0
    await fc.assert(
      fc.asyncProperty(toolArguments(() => own as { id: string; name: string }, () => other as { id: string; name: string }), async ({ tool, args }) => {
        calls++
        const result = await alice.callTool({ name: tool, arguments: args })
        expect(Array.isArray(result.content)).toBe(true)
      }),
      { numRuns: 60 }
    )
    expect(s.records().filter((r) => r.type === "ToolCalled").length).toBe(before + calls)
    expect(await structured(bob, "describe_environment", { environment: other.id })).toMatchObject({ state: "running" })
    expect(await structured(alice, "describe_environment", { environment: own.id })).toMatchObject({ state: "running" })
  }, 90_000)

  it("the example agent runs its script: what its policy denies is refused (blocked programs by the policy's rule, the network by the monitor), and all of it recorded", async () => {
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      const child = spawn(process.execPath, ["--import", "tsx", "examples/scripted-agent.ts", "--http", daemon.url], {
        cwd: projectRoot,
        env: { ...process.env, HYDRAVISOR_TOKEN: tokens["demo-agent"] },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (c: Buffer) => (stdout += c.toString()))
      child.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
      child.on("close", (code) => done({ code, stdout, stderr }))
    })
    expect(run.code, run.stderr).toBe(0)
    const summary = JSON.parse(run.stdout)
    expect(summary.steps.filter((st: { outcome: string }) => st.outcome === "refused").length).toBe(5)
    const records = s.records()
    const calls = records.filter((r) => r.type === "ToolCalled" && r.actor.id === "demo-agent")
    expect(calls.map((r) => r.data.tool)).toEqual(["request_environment", "write_file", "exec", "exec", "exec", "read_file", "describe_environment", "exec", "get_audit_trail", "release_environment"])
    expect(calls.filter((r) => r.data.outcome === "refused").map((r) => r.data.tool)).toEqual(["exec", "exec", "read_file", "describe_environment"])
    const policyRefused = records.filter((r) => r.type === "CommandRejected" && r.actor.id === "demo-agent")
    expect(policyRefused.map((r) => [r.data.rejection, r.correlation])).toEqual([calls[3], calls[4]].map((c) => ["PolicyRefused", c.correlation]))
    expect(policyRefused.map((r) => r.data.reason)).toEqual([expect.stringMatching(/^policy restricted: commands\.blocked\[\d+\]: .*sudo/), expect.stringMatching(/^policy restricted: commands\.blocked\[\d+\]: .*mount/)])
    const executed = records.filter((r) => r.type === "CommandExecuted" && r.actor.id === "demo-agent")
    expect(executed.length).toBe(2)
    expect(executed[1].data.exitCode).not.toBe(0)
    const denied = records.filter((r) => r.stream === `observations-${summary.environment}` && r.type === "ConnectionAttempted" && r.data.decision === "denied")
    expect(denied.map((r) => r.data.host)).toContain("pypi.org")
  }, 90_000)

  it("an agent whose policy (applied with `hydravisor policy apply`, through the daemon) withholds can_create is refused with the rule, recorded", async () => {
    const file = join(s.root, "watch-only.yaml")
    writeFileSync(file, ["name: watch-only", "description: Agents may only run commands in what they are given", "extends: restricted", "access:", "  assign:", '    "agent:*": sandboxed', ""].join("\n"))
    const applied = await s.hv("policy", "apply", file)
    expect(applied.code, applied.stderr).toBe(0)
    const watcher = await connect(await addAgent(s, "watcher", "--policy", "watch-only"))
    const result = await watcher.callTool({ name: "request_environment", arguments: { template: "research-env", name: "not-for-watcher" } })
    expect(result.isError).toBe(true)
    expect(JSON.stringify(result.content)).toContain("access denied by policy watch-only: access.roles.sandboxed.can_create")
    const records = s.records()
    const toolCall = records.filter((r) => r.type === "ToolCalled" && r.actor.id === "watcher").pop()
    expect(toolCall.data).toMatchObject({ tool: "request_environment", outcome: "refused", transport: "http" })
    const denied = records.filter((r) => r.type === "AccessDenied" && r.correlation === toolCall.correlation)
    expect(denied.map((r) => r.data)).toEqual([expect.objectContaining({ reason: "policy-denied", agentId: "watcher", policy: "watch-only", rule: "access.roles.sandboxed.can_create", remote: "127.0.0.1" })])
    expect(records.some((r) => r.type === "SandboxRequested" && JSON.stringify(r.data).includes("not-for-watcher"))).toBe(false)
  }, 60_000)

  it("the daemon still serves the CLI, and on SIGTERM stops every sandbox, recorded", async () => {
    const listed = await s.hv("list", "--json")
    expect(listed.code).toBe(0)
    // The fuzz run above may have launched more than its two: a drawn name can be a valid one (fast-check
    // draws words like "apply"), and such an environment is left running like the two.
    const running = (JSON.parse(listed.stdout) as Array<{ name: string; state: string }>).filter((v) => v.state === "running").map((v) => v.name)
    expect(running).toEqual(expect.arrayContaining(["http-fuzz", "http-other"]))
    daemon.child.kill("SIGTERM")
    expect(await waitForExit(daemon.child.pid!)).toBe(true)
    const stopped = s.records().filter((r) => r.type === "SandboxStopped").map((r) => r.data.reason)
    expect(stopped.filter((reason: string) => reason === "daemon shutting down").length).toBe(running.length)
    expect(await verifyCopy(s)).toMatchObject({ ok: true })
  }, 60_000)
})
