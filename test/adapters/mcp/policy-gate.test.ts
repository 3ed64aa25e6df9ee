// The decision an agent's call gets from its policy: `agent:<id>` as checkAccess resolves it, with a
// model the client declares able to take a capability away through its override, never to add one.
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { Either } from "effect"
import { agentAccess, declaredModel } from "../../../src/adapters/mcp/policy-gate.js"
import { checkAccess } from "../../../src/domain/policy/check-access.js"
import type { PolicyDocument } from "../../../src/domain/policy/policy-document.js"
import { resolveDocument, type EffectivePolicy } from "../../../src/domain/policy/resolve.js"
import { agentIds, capability, ownership, policyDocument } from "../../arbitraries/policy.js"

const resolved = (document: PolicyDocument): EffectivePolicy => {
  const policy = resolveDocument(document, {})
  if (Either.isLeft(policy)) throw new Error(policy.left.message)
  return policy.right
}

const model = fc.constantFrom("llama3", "claude")
const agent = fc.constantFrom(...agentIds)

describe("agentAccess", () => {
  it("is checkAccess for agent:<id> when the client declares no model", () => {
    fc.assert(
      fc.property(policyDocument(), agent, capability, ownership, (document, id, cap, sandbox) => {
        const policy = resolved(document)
        expect(agentAccess(policy, id, null, cap, sandbox)).toEqual(checkAccess(policy, { kind: "agent", id }, cap, sandbox))
      })
    )
  })

  it("never allows, for a declared model, what the agent alone is denied", () => {
    fc.assert(
      fc.property(policyDocument(), agent, model, capability, ownership, (document, id, m, cap, sandbox) => {
        const policy = resolved(document)
        if (agentAccess(policy, id, m, cap, sandbox).allowed) expect(checkAccess(policy, { kind: "agent", id }, cap, sandbox).allowed).toBe(true)
      })
    )
  })

  it("denies by the model's override over the agent's role, but not over the agent's own rule or override", () => {
    const policy = resolved({
      name: "lab",
      description: "d",
      extends: "restricted",
      access: { agents: { "coder-2": { can_exec: true } }, overrides: { "model:llama3": { can_exec: false }, "agent:research": { can_exec: true } } }
    } as PolicyDocument)
    expect(agentAccess(policy, "coder-1", "llama3", "can_exec", null)).toMatchObject({ allowed: false, rule: 'access.overrides."model:llama3".can_exec' })
    expect(agentAccess(policy, "coder-1", "claude", "can_exec", null)).toMatchObject({ allowed: true, rule: "access.roles.audited.can_exec" })
    expect(agentAccess(policy, "coder-1", "llama3", "can_create", null)).toMatchObject({ allowed: true, rule: "access.roles.audited.can_create" })
    expect(agentAccess(policy, "coder-2", "llama3", "can_exec", null)).toMatchObject({ allowed: true, rule: "access.agents.coder-2.can_exec" })
    expect(agentAccess(policy, "research", "llama3", "can_exec", null)).toMatchObject({ allowed: true, rule: 'access.overrides."agent:research".can_exec' })
  })
})

describe("declaredModel", () => {
  it("reads capabilities.experimental.hydravisor.model, and nothing else", () => {
    expect(declaredModel({ experimental: { hydravisor: { model: "llama3" } } })).toBe("llama3")
    expect(declaredModel({ experimental: { hydravisor: { model: "claude-sonnet-4.5" } } })).toBe("claude-sonnet-4.5")
    expect(declaredModel(undefined)).toBeNull()
    expect(declaredModel({})).toBeNull()
    expect(declaredModel({ experimental: { other: { model: "llama3" } } })).toBeNull()
    expect(declaredModel({ experimental: { hydravisor: { model: 3 } } })).toBeNull()
    expect(declaredModel({ experimental: { hydravisor: { model: "a b" } } })).toBeNull()
    expect(declaredModel({ experimental: { hydravisor: { model: "x".repeat(101) } } })).toBeNull()
  })
})
