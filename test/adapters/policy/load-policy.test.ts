// Policy files at the boundary: each kind of mistake is one tagged error naming file:line:column and
// the field; random documents round-trip through YAML; random mutations never throw.
import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { stringify } from "yaml"
import { decodePolicyText } from "../../../src/adapters/policy/load-policy.js"
import { emptyPolicyState } from "../../../src/domain/policy/policy-state.js"
import * as arb from "../../arbitraries/policy.js"

const decode = (text: string) => decodePolicyText("team.yaml", text, emptyPolicyState)
const problem = (text: string) => {
  const result = decode(text)
  if (Either.isRight(result)) throw new Error("expected an error")
  return result.left.message
}

const good = ["name: team", "description: Team agents", "extends: standard", "resources:", "  limits:", "    memory_mb: 2048", "commands:", "  blocked: [curl]", ""].join("\n")

describe("decodePolicyText", () => {
  it("decodes a good file", () => {
    expect(Either.getOrThrow(decode(good))).toMatchObject({ name: "team", extends: "standard", resources: { limits: { memory_mb: 2048 } } })
  })

  it.each([
    ["a typo'd key, with a suggestion", good.replace("memory_mb", "memroy_mb"), "team.yaml:6:5: resources.limits.memroy_mb: unknown key 'memroy_mb' (did you mean 'memory_mb'?)"],
    ["a wrong type", good.replace("2048", "lots"), "team.yaml:6:5: resources.limits.memory_mb: expected a positive integer, got \"lots\""],
    ["a negative limit", good.replace("2048", "-5"), "team.yaml:6:5: resources.limits.memory_mb: expected a positive integer, got -5"],
    ["an unknown policy in extends", good.replace("extends: standard", "extends: strandard"), "team.yaml:3:1: extends: unknown policy 'strandard'; built-in: restricted, standard, permissive"],
    ["auditing switched off", `${good}audit: false\n`, "team.yaml:9:1: audit: auditing cannot be switched off by a policy"],
    ["a role switching auditing off", `${good}access:\n  roles:\n    trusted: { can_create: true, audited: false }\n`, "team.yaml:11:34: access.roles.trusted.audited: auditing cannot be switched off"],
    ["a built-in's name", good.replace("name: team", "name: restricted"), "team.yaml:1:1: name: 'restricted' is a built-in policy and cannot be replaced"],
    ["an undefined role", `${good}access:\n  assign:\n    "agent:*": admins\n`, "team.yaml:11:5: access.assign.agent:*: role 'admins' is not defined"],
    ["a broken regular expression", `${good.replace("  blocked: [curl]", "  blocked_patterns: ['(']")}`, "team.yaml:8:22: commands.blocked_patterns[0]: not a valid regular expression"],
    ["an allowlist without allowlist mode", `${good}network:\n  mode: none\n  allowlist: [{ host: pypi.org }]\n`, "team.yaml:11:3: network.allowlist: entries only apply when mode is \"allowlist\""],
    ["invalid YAML", "name: [", "team.yaml:1:"]
  ])("reports %s at file:line:column and field", (_kind, text, expected) => {
    expect(problem(text)).toContain(expected)
  })

  it("round-trips every valid document through YAML", () => {
    fc.assert(
      fc.property(arb.policyDocument(), (document) => {
        expect(Either.getOrThrow(decode(stringify(document)))).toEqual(document)
      }),
      { numRuns: 300 }
    )
  })

  it("turns random mutations of a valid file into a value or an InvalidYaml, never a throw", () => {
    const mutation = fc.oneof(
      fc.tuple(fc.nat(), fc.nat({ max: 5 })).map(([at, n]) => (text: string) => text.slice(0, at % (text.length + 1)) + text.slice((at % (text.length + 1)) + n)),
      fc.tuple(fc.nat(), fc.constantFrom(":", "-", " ", "\n", "[", "{", "'", "\"", "&a", "*a", "!!binary ", "-1", "~", "\t")).map(([at, s]) => (text: string) => {
        const i = at % (text.length + 1)
        return text.slice(0, i) + s + text.slice(i)
      }),
      fc.tuple(fc.constantFrom("2048", "standard", "curl", "team"), fc.jsonValue()).map(([word, value]) => (text: string) => text.replace(word, JSON.stringify(value)))
    )
    fc.assert(
      fc.property(arb.policyDocument(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (document, mutations) => {
        const text = mutations.reduce((t, m) => m(t), stringify(document))
        const result = decode(text)
        if (Either.isLeft(result)) {
          expect(result.left._tag).toBe("InvalidYaml")
          expect(result.left.message).toMatch(/^team\.yaml:\d+:\d+: /)
        }
      }),
      { numRuns: 1000 }
    )
  })
})
