// The MCP tools through the real SDK client, linked in memory to the daemon's MCP core with a real
// ledger and real bwrap sandboxes: what each tool does, what it records, and how calls link up.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect, Either, Schema } from "effect"
import { agentEvents } from "../../../src/domain/events/agent-events.js"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { updateRegistry } from "../../../src/adapters/agents/agent-registry.js"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import { revoke } from "../../../src/domain/agents/agent.js"
import { call, failure, ok, startHost, type TestHost } from "./support/host-fixture.js"

let host: TestHost
let alice: Client

beforeAll(async () => {
  host = await startHost([{ id: "alice" }, { id: "bound", policy: "strict" }, { id: "leaving" }])
  await host.applyPolicy({ name: "strict", description: "restricted, with smaller sandboxes", extends: "restricted", resources: { limits: { memory_mb: 512, network_mbps: 3 } } })
  alice = await host.connect("alice")
}, 60_000)

afterAll(async () => {
  await host?.close()
})

describe("the MCP tools", () => {
  it("lists every tool with a strict input schema and an output schema", async () => {
    const { tools } = await alice.listTools()
    expect(tools.map((t) => t.name).sort()).toEqual(
      ["describe_environment", "environment_diff", "environment_log", "exec", "get_audit_trail", "list_environments", "list_files", "read_file", "release_environment", "request_environment", "rollback", "snapshot", "write_file"].sort()
    )
    for (const tool of tools) {
      expect(tool.inputSchema.additionalProperties, tool.name).toBe(false)
      expect(tool.outputSchema, tool.name).toBeDefined()
    }
  })

  it("request, write, exec, read, list, snapshot, rollback, diff, log, trail, release: each recorded and linked to what it caused", async () => {
    const env = await ok(alice, "request_environment", { template: "research-env", name: "work" })
    expect(env).toMatchObject({ name: "work", state: "running", constraints: { network: { mode: "none" }, policy: "restricted", limits: { memory_mb: 256 }, workspace: "/workspace" } })
    expect(await ok(alice, "write_file", { environment: "work", path: "src/main.py", content: "print(6 * 7)\n" })).toMatchObject({ path: "src/main.py", bytes: 13, created: true })
    const run = await ok(alice, "exec", { environment: env.id, argv: ["python3", "src/main.py"] })
    expect(run).toMatchObject({ exit_code: 0, stdout: "42\n", stderr: "", timed_out: false })
    expect(run.duration_ms).toBeGreaterThan(0)
    expect(await ok(alice, "exec", { environment: "work", argv: ["sh", "-c", "cat; exit 3"], stdin: "in", cwd: "src" })).toMatchObject({ exit_code: 3, stdout: "in" })
    expect(await ok(alice, "read_file", { environment: "work", path: "/workspace/src/main.py" })).toMatchObject({ content: "print(6 * 7)\n", encoding: "utf8", truncated: false })
    expect(await ok(alice, "read_file", { environment: "work", path: "src/main.py", max_bytes: 5 })).toMatchObject({ content: "print", truncated: true, sha256: null, size: 13 })
    await ok(alice, "exec", { environment: "work", argv: ["sh", "-c", "printf '\\000\\001' > bin.dat; ln -s src/main.py link"] })
    expect(await ok(alice, "read_file", { environment: "work", path: "bin.dat" })).toMatchObject({ content: "AAE=", encoding: "base64" })
    expect(await ok(alice, "read_file", { environment: "work", path: "link" })).toMatchObject({ path: "src/main.py", content: "print(6 * 7)\n" })
    const listing = await ok(alice, "list_files", { environment: "work", recursive: true })
    expect(listing.entries.map((e: { path: string; type: string }) => `${e.path}:${e.type}`)).toEqual(["bin.dat:file", "link:symlink", "src:directory", "src/main.py:file"])

    const snap = await ok(alice, "snapshot", { environment: "work" })
    expect(snap.snapshot_id).toMatch(/^snap-[0-9a-f]{12}$/)
    await ok(alice, "write_file", { environment: "work", path: "src/main.py", content: "print(7 * 7)\n" })
    expect((await ok(alice, "exec", { environment: "work", argv: ["python3", "src/main.py"] })).stdout).toBe("49\n")
    const diff = await ok(alice, "environment_diff", { environment: "work" })
    expect(diff.added.map((a: { path: string }) => a.path)).toEqual(["bin.dat", "link", "src/main.py"])
    expect(diff.added.find((a: { path: string }) => a.path === "src/main.py").diff).toBe("--- /dev/null\n+++ b/src/main.py\n@@ -0,0 +1 @@\n+print(7 * 7)\n")
    expect(await ok(alice, "rollback", { environment: "work", snapshot_id: snap.snapshot_id })).toEqual({ snapshot_id: snap.snapshot_id, restored: true })
    expect((await ok(alice, "exec", { environment: "work", argv: ["python3", "src/main.py"] })).stdout).toBe("42\n")
    expect(await failure(alice, "rollback", { environment: "work", snapshot_id: "snap-000000000000" })).toContain("no snapshot")

    const log = await ok(alice, "environment_log", { environment: "work" })
    expect(log.commands.map((c: { argv: Array<string> }) => c.argv[0])).toEqual(["python3", "sh", "sh", "python3", "python3"])
    expect(log.commands.map((c: { exit_code: number }) => c.exit_code)).toEqual([0, 3, 0, 0, 0])
    expect(log.commands.every((c: { actor: { id: string } }) => c.actor.id === "alice")).toBe(true)

    const trail = await ok(alice, "get_audit_trail", { environment: "work" })
    const types: Array<string> = trail.events.map((e: { type: string }) => e.type)
    expect(types.slice(0, 4)).toEqual(["SandboxRequested", "SandboxProvisioned", "SandboxStarted", "ToolCalled"])
    expect(types).toContain("WorkspaceFileWritten")
    expect(types).toContain("WorkspaceSnapshotted")
    expect(types).toContain("WorkspaceRolledBack")
    expect(JSON.stringify(trail)).not.toContain(host.dataDir)

    const released = await ok(alice, "release_environment", { environment: "work" })
    expect(released).toMatchObject({ id: env.id, state: "destroyed" })
    expect((await ok(alice, "list_environments", {})).environments).toEqual([])
    expect((await ok(alice, "list_environments", { include_released: true })).environments.map((e: { id: string }) => e.id)).toContain(env.id)
    expect(await failure(alice, "exec", { environment: env.id, argv: ["true"] })).toContain(`no environment '${env.id}'`)

    const records = await host.records()
    const calls = records.filter((r) => r.type === "ToolCalled" && r.stream === "agent-alice")
    expect(calls.map((r) => r.data["tool"])).toEqual([
      "request_environment", "write_file", "exec", "exec", "read_file", "read_file", "exec", "read_file", "read_file", "list_files",
      "snapshot", "write_file", "exec", "environment_diff", "rollback", "exec", "rollback", "environment_log", "get_audit_trail",
      "release_environment", "list_environments", "list_environments", "exec"
    ])
    expect(calls.map((r) => r.data["outcome"]).filter((o) => o !== "ok")).toEqual(["refused", "refused"])
    // Every record a call caused carries the call's correlation id, and comes before its ToolCalled.
    for (const toolCall of calls) {
      const caused = records.filter((r) => r.correlation === toolCall.correlation && r.id !== toolCall.id)
      expect(caused.every((r) => r.chain.seq < toolCall.chain.seq)).toBe(true)
      if (toolCall.data["tool"] === "exec" && toolCall.data["outcome"] === "ok") expect(caused.map((r) => r.type)).toEqual(["CommandStarted", "CommandExecuted"])
      if (toolCall.data["tool"] === "request_environment") expect(caused.map((r) => r.type)).toEqual(["SandboxRequested", "SandboxProvisioned", "SandboxStarted"])
      if (toolCall.data["tool"] === "release_environment") expect(caused.map((r) => r.type)).toEqual(["SandboxStopped", "SandboxDestroyed"])
      if (toolCall.data["tool"] === "write_file") expect(caused.map((r) => r.type)).toEqual(["WorkspaceFileWritten"])
    }
    const written = records.filter((r) => r.type === "WorkspaceFileWritten")
    expect(written[0]?.data).toMatchObject({ sandboxId: env.id, path: "src/main.py", bytes: 13, created: true })
    expect((await host.verify()).ok).toBe(true)
    // Every payload written here matches its event's Schema (as the catalogue will decode it).
    for (const record of records) {
      const definition = agentEvents.find((d) => d.type === record.type)
      if (definition !== undefined) expect(Either.isRight(Schema.decodeUnknownEither(definition.schema as Schema.Schema<unknown>)(record.data)), record.type).toBe(true)
    }
    expect(new Set(records.map((r) => r.type))).toEqual(new Set([...records.map((r) => r.type).filter((t) => !agentEvents.some((d) => d.type === t)), "AgentRegistered", "ToolCalled", "WorkspaceFileWritten", "WorkspaceSnapshotted", "WorkspaceRolledBack"]))
  }, 120_000)

  it("turns refusals into tool errors with one clear line, recorded with their outcome", async () => {
    await ok(alice, "request_environment", { template: "research-env", name: "refusals" })
    expect(await failure(alice, "request_environment", { template: "no-such", name: "x" })).toContain("no template named 'no-such'")
    expect(await failure(alice, "request_environment", { template: "research-env", name: "refusals" })).toMatch(/refusals/)
    expect(await failure(alice, "read_file", { environment: "refusals", path: "../secret" })).toBe("path '../secret' refused: it leads out of the workspace")
    expect(await failure(alice, "read_file", { environment: "refusals", path: "a\u0000b" })).toContain("NUL byte")
    expect(await failure(alice, "write_file", { environment: "refusals", path: "/etc/x", content: "" })).toContain("absolute paths must be under /workspace")
    expect(await failure(alice, "read_file", { environment: "refusals", path: "missing.txt" })).toContain("no such file or directory")
    expect(await failure(alice, "exec", { environment: "refusals", argv: ["true"], extra: 1 })).toContain("extra: is unexpected")
    expect(await failure(alice, "exec", { environment: "refusals", argv: [] })).toContain("Input validation error")
    expect(await failure(alice, "no_such_tool", {})).toContain("not found")
    await ok(alice, "exec", { environment: "refusals", argv: ["ln", "-s", "/etc/passwd", "pw"] })
    expect(await failure(alice, "read_file", { environment: "refusals", path: "pw" })).toContain("leads out of the workspace")
    const records = await host.records()
    const outcomes = records.filter((r) => r.type === "ToolCalled").slice(-12).map((r) => `${r.data["tool"]}:${r.data["outcome"]}`)
    expect(outcomes).toEqual([
      "request_environment:ok", "request_environment:refused", "request_environment:refused", "read_file:refused", "read_file:refused", "write_file:refused",
      "read_file:failed", "exec:invalid", "exec:invalid", "no_such_tool:invalid", "exec:ok", "read_file:refused"
    ])
    await ok(alice, "release_environment", { environment: "refusals" })
  }, 60_000)

  it("an agent bound to a policy gets it and cannot ask for another", async () => {
    const bound = await host.connect("bound")
    expect(await failure(bound, "request_environment", { template: "research-env", name: "b1", policy: "open" })).toContain("bound to policy 'strict'")
    const env = await ok(bound, "request_environment", { template: "research-env", name: "b1" })
    expect(env.constraints.policy).toBe("strict")
    expect(env.constraints.limits).toMatchObject({ memory_mb: 256, network_mbps: 3 })
    await ok(bound, "release_environment", { environment: "b1" })
  }, 60_000)

  it("sees sandboxes an operator launched for it (launch --agent)", async () => {
    const template = { name: "tiny", description: "t", runner: "bwrap" as const, rootfs: { kind: "host" as const }, resources: { cpu_cores: 1, memory_mb: 128, pids: 64 }, network: { mode: "none" as const }, default_policy: "restricted" }
    const view = await host.run(Effect.flatMap(SandboxService, (s) => s.launch({ template, name: "handed", actor: { kind: "operator", id: "root" }, agent: "alice" })))
    const listed = (await ok(alice, "list_environments", {})).environments.map((e: { id: string }) => e.id)
    expect(listed).toContain(view.id)
    expect((await ok(alice, "exec", { environment: "handed", argv: ["echo", "mine"] })).stdout).toBe("mine\n")
    expect((await ok(alice, "environment_diff", { environment: "handed" })).since).toContain("started empty")
    await ok(alice, "release_environment", { environment: "handed" })
  }, 60_000)

  it("a token revoked mid-session is refused on the next call, and the refusal recorded", async () => {
    const leaving = await host.connect("leaving")
    await ok(leaving, "list_environments", {})
    const token = host.tokens.get("leaving")
    // admitNow (the HTTP fast path) admits a good token at once, never a wrong one...
    expect(host.core.access.admitNow(token, null)?.id).toBe("leaving")
    expect(host.core.access.admitNow(`${token}x`, null)).toBeNull()
    expect(host.core.access.admitNow(undefined, null)).toBeNull()
    updateRegistry(host.dataDir, (r) => revoke(r, "leaving", new Date().toISOString()))
    // ...nor any token once the registry changed, until authenticate has brought the change in
    expect(host.core.access.admitNow(host.tokens.get("alice"), null)).toBeNull()
    expect(await failure(leaving, "list_environments", {})).toContain("was revoked")
    const records = await host.records()
    expect(records.filter((r) => r.type === "AgentTokenRevoked").map((r) => r.data["agentId"])).toEqual(["leaving"])
    expect(records.filter((r) => r.type === "AccessDenied" && r.data["agentId"] === "leaving").map((r) => r.data["reason"])).toEqual(["revoked-token"])
    expect((await call(leaving, "list_environments", {})).ok).toBe(false)
    expect(host.core.access.admitNow(token, null)).toBeNull()
    expect(host.core.access.admitNow(host.tokens.get("alice"), null)?.id).toBe("alice")
  }, 30_000)
})
