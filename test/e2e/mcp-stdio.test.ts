// Issue 7 end to end over stdio: an MCP client (the real SDK) starts `hydravisor mcp --stdio --agent
// A`, which starts the daemon on demand and bridges to it. Request, write, run what was written,
// release; the ledger verifies and holds every call in order, linked to what it caused.
import { afterAll, describe, expect, it } from "vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { unsealData } from "../../src/domain/events/redactable.js"
import { projectRoot } from "../support/cli.js"
import { addAgent } from "../adapters/mcp/support/host-fixture.js"
import { cleanUp, daemonPid, nodeArgs, session, stopDaemon, verifyCopy, type Session } from "../adapters/mcp/support/cli.js"

const sessions: Array<Session> = []

afterAll(async () => {
  for (const s of sessions) {
    await stopDaemon(s)
    await cleanUp(s)
  }
})

const stdioClient = async (s: Session, env: Record<string, string>, ...flags: Array<string>) => {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: nodeArgs("mcp", "--stdio", ...flags),
    cwd: projectRoot,
    env: { ...(process.env as Record<string, string>), ...s.env, ...env },
    stderr: "pipe"
  })
  let stderr = ""
  transport.stderr?.on("data", (c: Buffer) => (stderr += c.toString()))
  const client = new Client({ name: "e2e-stdio", version: "1" })
  return { client, transport, connect: () => client.connect(transport), stderr: () => stderr }
}

const structured = (result: Awaited<ReturnType<Client["callTool"]>>) => {
  if (result.isError) throw new Error(JSON.stringify(result.content))
  return result.structuredContent as Record<string, any>
}

describe("MCP over stdio", () => {
  it("request, write a file, run a command that reads it, release: every call recorded in order and the ledger verifies", async () => {
    const s = session()
    sessions.push(s)
    const token = addAgent(s.dataDir, { id: "alice" })
    const { client, connect } = await stdioClient(s, { HYDRAVISOR_TOKEN: token }, "--agent", "alice")
    await connect()
    expect(await daemonPid(s)).not.toBeNull()
    const env = structured(await client.callTool({ name: "request_environment", arguments: { template: "research-env", name: "stdio-env" } }))
    expect(env).toMatchObject({ name: "stdio-env", state: "running" })
    structured(await client.callTool({ name: "write_file", arguments: { environment: env.id, path: "note.txt", content: "written over stdio\n" } }))
    const run = structured(await client.callTool({ name: "exec", arguments: { environment: env.id, argv: ["sh", "-c", "tr a-z A-Z < note.txt"] } }))
    expect(run).toMatchObject({ exit_code: 0, stdout: "WRITTEN OVER STDIO\n" })
    expect(structured(await client.callTool({ name: "release_environment", arguments: { environment: env.id } }))).toMatchObject({ state: "destroyed" })
    await client.close()

    expect(await verifyCopy(s)).toMatchObject({ ok: true })
    const records = s.records()
    const calls = records.filter((r) => r.type === "ToolCalled")
    expect(calls.map((r) => r.data.tool)).toEqual(["request_environment", "write_file", "exec", "release_environment"])
    expect(calls.every((r) => r.actor.id === "alice" && r.data.transport === "stdio" && r.data.outcome === "ok" && r.data.sandboxId === env.id)).toBe(true)
    const linked = (tool: string) => records.filter((r) => r.correlation === calls.find((c) => c.data.tool === tool).correlation && r.type !== "ToolCalled").map((r) => r.type)
    expect(linked("request_environment")).toEqual(["SandboxRequested", "SandboxProvisioned", "SandboxStarted"])
    expect(linked("write_file")).toEqual(["WorkspaceFileWritten"])
    expect(linked("exec")).toEqual(["CommandStarted", "CommandExecuted"])
    expect(linked("release_environment")).toEqual(["SandboxStopped", "SandboxDestroyed"])
    // The daemon's monitors watched the sandbox; what they saw is the sandbox's, linked to no call.
    const observed = records.filter((r) => r.stream === `observations-${env.id}`)
    expect(observed.filter((r) => r.type === "ProcessStarted").map((r) => (unsealData(r.data)["argv"] as Array<string>)[0])).toContain("tr")
    expect(observed.every((r) => r.correlation === null || !calls.some((c) => c.correlation === r.correlation))).toBe(true)
    expect(records.filter((r) => r.type === "AgentRegistered").map((r) => r.data.agentId)).toEqual(["alice"])
    expect(s.bodies().some((b) => b.includes(token))).toBe(false)
  }, 120_000)

  it("a wrong or missing token ends the bridge with a clear error, recorded as AccessDenied without the token", async () => {
    const s = session()
    sessions.push(s)
    addAgent(s.dataDir, { id: "alice" })
    const wrong = "hv_not-the-token-of-anyone-at-all-000000000000"
    for (const [env, reason] of [[{ HYDRAVISOR_TOKEN: wrong }, "unknown-token"], [{ HYDRAVISOR_TOKEN: "" }, "missing-token"]] as const) {
      const attempt = await stdioClient(s, env, "--agent", "alice")
      await expect(attempt.connect()).rejects.toThrow()
      expect(attempt.stderr()).toContain("access denied")
      const denied = s.records().filter((r) => r.type === "AccessDenied")
      expect(denied[denied.length - 1].data).toMatchObject({ transport: "stdio", reason, agentId: "alice" })
    }
    expect(s.bodies().some((b) => b.includes(wrong))).toBe(false)
  }, 120_000)

  it("with a daemon that does not serve MCP (plain `serve`) running, says what to do instead", async () => {
    const s = session()
    sessions.push(s)
    expect((await s.hv("list")).code).toBe(0)
    const attempt = await stdioClient(s, { HYDRAVISOR_TOKEN: "x" })
    await expect(attempt.connect()).rejects.toThrow()
    expect(attempt.stderr()).toContain("without MCP")
    const foreground = await s.hv("mcp", "--port", "0")
    expect(foreground.code).toBe(1)
    expect(foreground.stderr).toContain("a daemon already runs")
  }, 120_000)
})
