// Every policy example the docs show decodes: each ```yaml block of docs/policies.md that is a
// policy document, and every file in examples/policies/.
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { decodePolicyText } from "../../../src/adapters/policy/load-policy.js"
import { emptyPolicyState } from "../../../src/domain/policy/policy-state.js"
import { projectRoot } from "../../support/cli.js"

const docBlocks = [...readFileSync(join(projectRoot, "docs/policies.md"), "utf8").matchAll(/```yaml\n([\s\S]*?)```/g)].map((m, i) => [`docs/policies.md block ${i + 1}`, m[1] ?? ""] as const)
const exampleDir = join(projectRoot, "examples/policies")
const exampleFiles = readdirSync(exampleDir).filter((f) => f.endsWith(".yaml")).map((f) => [`examples/policies/${f}`, readFileSync(join(exampleDir, f), "utf8")] as const)

describe("policy examples", () => {
  it("finds the examples", () => {
    expect(docBlocks.length).toBeGreaterThanOrEqual(6)
    expect(exampleFiles.length).toBeGreaterThanOrEqual(3)
  })

  it.each([...docBlocks, ...exampleFiles])("%s decodes", (file, text) => {
    const decoded = decodePolicyText(file, text, emptyPolicyState)
    expect(Either.isRight(decoded) ? "ok" : decoded.left.message).toBe("ok")
  })
})
