// `hydravisor policy` through the real CLI: validate names file:line:column and field for each kind
// of mistake; apply records PolicyApplied once and a second identical apply is a no-op; list, show,
// diff and schema print what the ledger and the built-ins hold.
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { Chunk, Effect, Stream } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { EventStore } from "../../src/adapters/store/event-store.js"
import { readOnlyStore, removeDir, tempDir } from "../support/ledger-fixture.js"
import { runCli } from "../support/cli.js"

const dir = tempDir("hv-policy-cli-")
const dataDir = join(dir, "data")
const env = { HYDRAVISOR_DATA_DIR: dataDir }
const write = (name: string, lines: ReadonlyArray<string>) => {
  const file = join(dir, name)
  writeFileSync(file, lines.join("\n") + "\n")
  return file
}
const good = ["name: ci", "description: CI agents", "extends: standard", "resources:", "  limits:", "    memory_mb: 2048", "commands:", "  blocked: [curl]"]

const policyRecords = () =>
  Effect.flatMap(EventStore, (store) => Stream.runCollect(store.readAll())).pipe(
    Effect.map((records) => Chunk.toArray(records).map(({ record }) => record).filter((r) => r.type === "PolicyApplied")),
    Effect.provide(readOnlyStore(dataDir)),
    Effect.scoped,
    Effect.runPromise
  )

afterAll(() => removeDir(dir))

describe("hydravisor policy", () => {
  it("validate accepts a good file and names file:line:column and field for each bad one", async () => {
    const ok = await runCli(["policy", "validate", write("ci.yaml", good)], { env })
    expect(ok.stderr).toBe("")
    expect(ok.stdout).toContain("valid policy ci (extends standard)")
    const bad = write("bad.yaml", ["name: ci", "description: CI agents", "extends: standard", "resources:", "  limits:", "    memory_mb: -1", "    cpu_cors: 2", "network:", "  mode: sometimes", "audit: false"])
    const refused = await runCli(["policy", "validate", bad], { env })
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toContain(`${bad}:6:5: resources.limits.memory_mb: expected a positive integer, got -1`)
    expect(refused.stderr).toContain(`${bad}:7:5: resources.limits.cpu_cors: unknown key 'cpu_cors' (did you mean 'cpu_cores'?)`)
    expect(refused.stderr).toContain(`${bad}:9:3: network.mode: expected one of "none", "allowlist", "open", got "sometimes"`)
    expect(refused.stderr).toContain(`${bad}:10:1: audit: auditing cannot be switched off by a policy`)
    const unknownParent = await runCli(["policy", "validate", write("orphan.yaml", good.map((l) => l.replace("standard", "nope")))], { env })
    expect(unknownParent.stderr).toContain("orphan.yaml:3:1: extends: unknown policy 'nope'")
  })

  it("apply records PolicyApplied, and applying the identical document again records nothing", async () => {
    const file = write("ci.yaml", good)
    const first = await runCli(["policy", "apply", file, "--json"], { env })
    expect(first.stderr).toBe("")
    expect(JSON.parse(first.stdout)).toMatchObject({ _tag: "Applied", name: "ci", version: 1, previousVersion: null })
    const again = await runCli(["policy", "apply", file], { env })
    expect(again.stdout).toContain("policy ci unchanged: version 1")
    const records = await policyRecords()
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({ stream: "policy-ci", revision: 0, data: { name: "ci", version: 1, source: file, document: { extends: "standard" } } })

    const changed = write("ci.yaml", good.map((l) => l.replace("2048", "3072")))
    expect(JSON.parse((await runCli(["policy", "apply", changed, "--json"], { env })).stdout)).toMatchObject({ version: 2, previousVersion: 1 })
    expect(await policyRecords()).toHaveLength(2)
  })

  it("list, show and diff read the ledger and the built-ins", async () => {
    const listed = JSON.parse((await runCli(["policy", "list", "--json"], { env })).stdout) as Array<{ name: string; origin: string; version: number | null }>
    expect(listed.map((p) => [p.name, p.origin, p.version])).toEqual([["restricted", "builtin", null], ["standard", "builtin", null], ["permissive", "builtin", null], ["ci", "applied", 2]])
    const shown = JSON.parse((await runCli(["policy", "show", "ci", "--json"], { env })).stdout)
    expect(shown).toMatchObject({ version: 2, chain: ["ci", "standard"], effective: { resources: { limits: { memory_mb: 3072, cpu_cores: 2 } } } })
    expect(shown.history.map((h: { version: number }) => h.version)).toEqual([1, 2])
    const diff = await runCli(["policy", "diff", "ci", "--from", "1", "--to", "2"], { env })
    expect(diff.stdout).toContain("-     memory_mb: 2048\n+     memory_mb: 3072")
    const same = await runCli(["policy", "diff", "ci", join(dir, "ci.yaml")], { env })
    expect(same.stdout).toContain("no difference between ci version 2")
    const missing = await runCli(["policy", "show", "nope"], { env })
    expect(missing.code).not.toBe(0)
    expect(missing.stderr).toContain("no policy named 'nope'; known: ci, permissive, restricted, standard")
  })

  it("schema prints a JSON Schema of the format", async () => {
    const printed = JSON.parse((await runCli(["policy", "schema"], { env })).stdout)
    expect(printed.$schema).toBe("http://json-schema.org/draft-07/schema#")
    const document = printed.$defs.PolicyDocument
    expect(document.required).toEqual(["name", "description"])
    expect(Object.keys(document.properties)).toEqual(["name", "description", "extends", "audit", "resources", "access", "network", "commands", "violations"])
    expect(document.additionalProperties).toBe(false)
  })
})
