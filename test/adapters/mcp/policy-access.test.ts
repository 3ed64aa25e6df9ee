// Access rules through the real SDK client, a real ledger and real bwrap sandboxes: every tool call
// is checked against the agent's policy (bound with `agents add --policy`, else the default), a
// refusal names the policy's rule and is recorded as AccessDenied (policy-denied) with its ToolCalled,
// and blocked commands are refused by exec before anything runs.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Effect } from "effect"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import type { LedgerRecord } from "../../../src/domain/ledger/record.js"
import { failure, ok, startHost, type TestHost } from "./support/host-fixture.js"

let host: TestHost
let alice: Client
let watcher: Client

const tiny = { name: "tiny", description: "t", runner: "bwrap" as const, rootfs: { kind: "host" as const }, resources: { cpu_cores: 1, memory_mb: 128, pids: 64 }, network: { mode: "none" as const }, default_policy: "restricted" }

/** The last ToolCalled of `agent` and the records its call caused. */
const lastCall = async (agent: string) => {
  const records = await host.records()
  const calls = records.filter((r) => r.type === "ToolCalled" && r.stream === `agent-${agent}`)
  const toolCall = calls[calls.length - 1] as LedgerRecord
  return { toolCall, caused: records.filter((r) => r.correlation === toolCall.correlation && r.id !== toolCall.id), records }
}

beforeAll(async () => {
  host = await startHost([{ id: "alice" }, { id: "watcher", policy: "watch-only" }, { id: "modelled", policy: "per-model" }])
  await host.applyPolicy({
    name: "watch-only",
    description: "Agents may run commands in sandboxes handed to them, nothing more",
    extends: "restricted",
    access: { assign: { "agent:*": "sandboxed" }, overrides: { "model:gpt-x": { can_create: true } } }
  })
  await host.applyPolicy({
    name: "per-model",
    description: "llama3 may not run commands",
    extends: "restricted",
    access: { overrides: { "model:llama3": { can_exec: false } } }
  })
  alice = await host.connect("alice")
  watcher = await host.connect("watcher")
}, 60_000)

afterAll(async () => {
  await host?.close()
})

describe("access rules of the agent's policy", () => {
  it("refuses request_environment when the policy does not grant can_create, naming the rule, and records it", async () => {
    const error = await failure(watcher, "request_environment", { template: "research-env", name: "w1" })
    expect(error).toBe("access denied by policy watch-only: access.roles.sandboxed.can_create: role sandboxed (of agent:watcher) does not grant can_create")
    const { toolCall, caused, records } = await lastCall("watcher")
    expect(toolCall.data).toMatchObject({ tool: "request_environment", outcome: "refused", error, sandboxId: null })
    expect(caused.map((r) => r.type)).toEqual(["AccessDenied"])
    expect(caused[0]?.data).toEqual({ transport: "memory", reason: "policy-denied", agentId: "watcher", tool: "request_environment", sandboxId: null, remote: null, policy: "watch-only", rule: "access.roles.sandboxed.can_create" })
    expect(caused[0]?.actor).toEqual({ kind: "agent", id: "watcher" })
    expect(records.some((r) => r.type === "SandboxRequested" || (r.type === "CommandRejected" && r.data["target"] === "w1"))).toBe(false)
    expect((await ok(watcher, "list_environments", {})).environments).toEqual([])
  }, 60_000)

  it("does not let a model the client declares grant what the agent's policy withholds", async () => {
    const claiming = await host.connect("watcher", { model: "gpt-x" })
    expect(await failure(claiming, "request_environment", { template: "research-env", name: "w2" })).toContain("access.roles.sandboxed.can_create")
  }, 30_000)

  it("allows every tool under the default policy (restricted: agents are audited, on their own sandboxes)", async () => {
    const env = await ok(alice, "request_environment", { template: "research-env", name: "allowed" })
    expect(env.constraints.policy).toBe("restricted")
    await ok(alice, "write_file", { environment: "allowed", path: "a.txt", content: "a" })
    expect((await ok(alice, "exec", { environment: "allowed", argv: ["cat", "a.txt"] })).stdout).toBe("a")
    const snap = await ok(alice, "snapshot", { environment: "allowed" })
    await ok(alice, "rollback", { environment: "allowed", snapshot_id: snap.snapshot_id })
    expect((await ok(alice, "get_audit_trail", { environment: "allowed" })).events.length).toBeGreaterThan(0)
    const resource = await alice.readResource({ uri: `hydravisor://environments/${env.id}/audit` })
    const [content] = resource.contents
    expect(content !== undefined && "text" in content ? JSON.parse(content.text).environment : null).toBe(env.id)
    await ok(alice, "release_environment", { environment: "allowed" })
    const records = await host.records()
    expect(records.filter((r) => r.type === "AccessDenied" && r.data["agentId"] === "alice")).toEqual([])
    expect(records.filter((r) => r.type === "ToolCalled" && r.stream === "agent-alice").map((r) => r.data["outcome"])).not.toContain("refused")
  }, 60_000)

  it("on a sandbox handed to it, lets an agent run commands but not read the audit trail when its role withholds can_read_audit", async () => {
    const view = await host.run(Effect.flatMap(SandboxService, (s) => s.launch({ template: tiny, name: "handed", actor: { kind: "operator", id: "root" }, agent: "watcher" })))
    expect((await ok(watcher, "exec", { environment: "handed", argv: ["echo", "allowed"] })).stdout).toBe("allowed\n")
    await ok(watcher, "write_file", { environment: "handed", path: "notes.txt", content: "n" })

    const error = await failure(watcher, "get_audit_trail", { environment: "handed" })
    expect(error).toContain("access denied by policy watch-only: access.roles.sandboxed.can_read_audit")
    const { toolCall, caused } = await lastCall("watcher")
    expect(toolCall.data).toMatchObject({ tool: "get_audit_trail", outcome: "refused", sandboxId: view.id })
    expect(caused.map((r) => r.data)).toEqual([expect.objectContaining({ reason: "policy-denied", tool: "get_audit_trail", sandboxId: view.id, rule: "access.roles.sandboxed.can_read_audit" })])

    await expect(watcher.readResource({ uri: `hydravisor://environments/${view.id}/audit` })).rejects.toThrow(/access\.roles\.sandboxed\.can_read_audit/)
    const read = await lastCall("watcher")
    expect(read.toolCall.data).toMatchObject({ tool: "resources/read", outcome: "refused", sandboxId: view.id })
    expect(read.caused.map((r) => r.data["reason"])).toEqual(["policy-denied"])
    await ok(watcher, "release_environment", { environment: "handed" })
  }, 60_000)

  it("refuses a blocked command at exec with the policy rule, before anything runs, and records it", async () => {
    const env = await ok(alice, "request_environment", { template: "research-env", name: "blocked" })
    for (const argv of [["sudo", "true"], ["mount", "-t", "tmpfs", "x", "/mnt"], ["sh", "-c", "echo hi && /usr/bin/../bin/mount"]]) {
      const error = await failure(alice, "exec", { environment: "blocked", argv })
      expect(error, argv.join(" ")).toMatch(/^policy restricted: commands\.blocked\[\d+\]: .*(sudo|mount)/)
      const { toolCall, caused } = await lastCall("alice")
      expect(toolCall.data).toMatchObject({ tool: "exec", outcome: "refused", error, sandboxId: env.id })
      expect(caused.map((r) => `${r.stream}:${r.type}`)).toEqual([`sandbox-${env.id}:CommandRejected`])
      expect(caused[0]?.data).toMatchObject({ command: "Exec", sandboxId: env.id, rejection: "PolicyRefused", reason: error })
    }
    const log = await ok(alice, "environment_log", { environment: "blocked" })
    expect(log.commands).toEqual([])
    expect((await ok(alice, "exec", { environment: "blocked", argv: ["true"] })).exit_code).toBe(0)
    await ok(alice, "release_environment", { environment: "blocked" })
  }, 60_000)

  it("holds a client that declares a model to that model's override, and the same agent without it to its role", async () => {
    const llama = await host.connect("modelled", { model: "llama3" })
    const env = await ok(llama, "request_environment", { template: "research-env", name: "modelled" })
    expect(env.constraints.policy).toBe("per-model")
    expect(await failure(llama, "exec", { environment: "modelled", argv: ["true"] })).toBe(
      'access denied by policy per-model: access.overrides."model:llama3".can_exec: model:llama3 is denied can_exec by an override'
    )
    expect(await failure(llama, "write_file", { environment: "modelled", path: "x", content: "x" })).toContain('access.overrides."model:llama3".can_exec')
    const plain = await host.connect("modelled")
    expect((await ok(plain, "exec", { environment: "modelled", argv: ["echo", "ok"] })).stdout).toBe("ok\n")
    await ok(plain, "release_environment", { environment: "modelled" })
  }, 60_000)

  it("applies a new version of the agent's policy at the next call", async () => {
    await host.applyPolicy({ name: "watch-only", description: "Now agents may create", extends: "restricted", access: { assign: { "agent:*": "audited" } } })
    const env = await ok(watcher, "request_environment", { template: "research-env", name: "w3" })
    expect(env.constraints.policy).toBe("watch-only")
    await ok(watcher, "release_environment", { environment: "w3" })
    expect((await host.verify()).ok).toBe(true)
  }, 60_000)
})
