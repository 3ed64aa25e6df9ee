// Isolation between agents: agent B cannot see, exec in, read from, write to, snapshot, roll back,
// audit or release agent A's environment, by id or by name; every answer is the one a missing
// environment gets, and the ledger records each attempt (AccessDenied, not-owner).
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { call, failure, ok, startHost, type TestHost } from "./support/host-fixture.js"

let host: TestHost
let alice: Client
let bob: Client
let aliceEnv: { id: string; name: string }

const argumentsFor = (environment: string): ReadonlyArray<readonly [string, Record<string, unknown>]> => [
  ["describe_environment", { environment }],
  ["exec", { environment, argv: ["sh", "-c", "echo pwned > /workspace/pwned"] }],
  ["read_file", { environment, path: "secret.txt" }],
  ["write_file", { environment, path: "secret.txt", content: "overwritten" }],
  ["list_files", { environment }],
  ["snapshot", { environment }],
  ["rollback", { environment, snapshot_id: "snap-000000000000" }],
  ["get_audit_trail", { environment }],
  ["environment_diff", { environment }],
  ["environment_log", { environment }],
  ["release_environment", { environment }]
]

beforeAll(async () => {
  host = await startHost([{ id: "alice" }, { id: "bob" }])
  alice = await host.connect("alice")
  bob = await host.connect("bob")
  const env = await ok(alice, "request_environment", { template: "research-env", name: "alices" })
  aliceEnv = { id: env.id, name: env.name }
  await ok(alice, "write_file", { environment: env.id, path: "secret.txt", content: "alice's secret" })
}, 60_000)

afterAll(async () => {
  await host?.close()
})

describe("isolation between agents", () => {
  it("every environment tool answers B about A's environment exactly as about one that does not exist", async () => {
    const missing = "0123456789abcdef"
    for (const ref of [aliceEnv.id, aliceEnv.name]) {
      for (const [tool, args] of argumentsFor(ref)) {
        const theirs = await failure(bob, tool, args)
        const none = await failure(bob, tool, { ...args, environment: missing })
        expect(theirs, `${tool} on ${ref}`).toBe(none.replace(missing, ref))
        expect(theirs).toBe(`no environment '${ref}' (list_environments shows yours)`)
      }
    }
    const denied = (await host.records()).filter((r) => r.type === "AccessDenied" && r.data["reason"] === "not-owner")
    expect(denied.length).toBe(2 * argumentsFor("x").length)
    expect(denied.every((r) => r.data["agentId"] === "bob" && r.data["sandboxId"] === aliceEnv.id)).toBe(true)
    const bobsCalls = (await host.records()).filter((r) => r.type === "ToolCalled" && r.stream === "agent-bob")
    expect(bobsCalls.every((r) => r.data["outcome"] === "refused" && r.data["sandboxId"] === null)).toBe(true)
  }, 60_000)

  it("A's environment is untouched: still running, its file unchanged, no command of B's ran", async () => {
    expect(await ok(alice, "describe_environment", { environment: aliceEnv.id })).toMatchObject({ state: "running", exec_count: 0 })
    expect((await ok(alice, "read_file", { environment: aliceEnv.id, path: "secret.txt" })).content).toBe("alice's secret")
    expect(await failure(alice, "read_file", { environment: aliceEnv.id, path: "pwned" })).toContain("no such file")
    const trail = await ok(alice, "get_audit_trail", { environment: aliceEnv.id })
    expect(trail.events.every((e: { actor: { id: string } }) => e.actor.id !== "bob")).toBe(true)
  })

  it("B lists only its own environments and audit resources; A's audit resource reads as missing", async () => {
    const mine = await ok(bob, "request_environment", { template: "research-env", name: "bobs" })
    expect((await ok(bob, "list_environments", { include_released: true })).environments.map((e: { id: string }) => e.id)).toEqual([mine.id])
    const { resources } = await bob.listResources()
    expect(resources.map((r) => r.uri)).toEqual([`hydravisor://environments/${mine.id}/audit`])
    await expect(bob.readResource({ uri: `hydravisor://environments/${aliceEnv.id}/audit` })).rejects.toThrow(`no environment '${aliceEnv.id}'`)
    const own = await bob.readResource({ uri: `hydravisor://environments/${mine.id}/audit` })
    const trail = JSON.parse(String((own.contents[0] as { text: string }).text))
    expect(trail.events[0].type).toBe("SandboxRequested")
    expect((await call(alice, "describe_environment", { environment: mine.id })).ok).toBe(false)
    await ok(bob, "release_environment", { environment: mine.id })
  }, 60_000)

  it("A can still release its own environment after all that", async () => {
    expect(await ok(alice, "release_environment", { environment: aliceEnv.name })).toMatchObject({ state: "destroyed" })
    expect((await host.verify()).ok).toBe(true)
  }, 30_000)
})
