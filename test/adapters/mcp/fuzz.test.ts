// Fuzzing every tool's arguments through the real SDK client (linked in memory): wrong types, huge
// strings, `../` and absolute paths, NUL bytes, unknown fields, other agents' environments. Every
// call is answered with a result or a tool error, the server stays up, nothing is written outside
// the workspace, and every call is one ToolCalled record.
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import fc from "fast-check"
import type { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { ok, startHost, type TestHost } from "./support/host-fixture.js"
import { toolArguments } from "./support/arbitraries.js"

let host: TestHost
let alice: Client
let own: { id: string; name: string }
let other: { id: string; name: string }

beforeAll(async () => {
  host = await startHost([{ id: "alice" }, { id: "bob" }])
  alice = await host.connect("alice")
  const bob = await host.connect("bob")
  const a = await ok(alice, "request_environment", { template: "research-env", name: "fuzzed" })
  const b = await ok(bob, "request_environment", { template: "research-env", name: "bystander" })
  own = { id: a.id, name: a.name }
  other = { id: b.id, name: b.name }
  await ok(alice, "exec", { environment: own.id, argv: ["sh", "-c", "mkdir -p d && ln -s /etc etc-link && ln -s ../.. up && ln -s d/../d inside"] })
}, 60_000)

afterAll(async () => {
  await host?.close()
})

const toolCalls = async () => (await host.records()).filter((r) => r.type === "ToolCalled").length

describe("fuzzing the tools' arguments", () => {
  it("every call gets a result or a tool error, is recorded once, and the server stays up", async () => {
    const before = await toolCalls()
    const sandboxesDir = join(host.dataDir, "sandboxes")
    const outside = () => readdirSync(host.dataDir).sort().join(",")
    const layout = outside()
    let calls = 0
    await fc.assert(
      fc.asyncProperty(toolArguments(() => own, () => other), async ({ tool, args }) => {
        calls++
        const result = await alice.callTool({ name: tool, arguments: args })
        expect(Array.isArray(result.content)).toBe(true)
        if (result.isError !== true) expect(result.structuredContent).toBeDefined()
      }),
      { numRuns: 500 }
    )
    expect(await toolCalls()).toBe(before + calls)
    expect(outside()).toBe(layout)
    expect(existsSync(join(sandboxesDir, other.id, "workspace"))).toBe(true)
    expect(readdirSync(join(sandboxesDir, other.id, "workspace"))).toEqual([])
    const described = await ok(alice, "describe_environment", { environment: own.id })
    expect(described, JSON.stringify(described)).toMatchObject({ state: "running" })
    expect((await host.verify()).ok).toBe(true)
  }, 150_000)

  it("a request whose params are not even an object gets a JSON-RPC error, and is recorded too", async () => {
    const before = await toolCalls()
    await expect(alice.request({ method: "tools/call", params: { name: "exec", arguments: "not an object" } } as never, (await import("@modelcontextprotocol/sdk/types.js")).CallToolResultSchema)).rejects.toThrow()
    expect(await toolCalls()).toBe(before + 1)
    expect(await ok(alice, "list_environments", {})).toBeDefined()
  })
})
