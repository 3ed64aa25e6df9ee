// The policy engine's safety property: for random policies and requests, checkCommand, checkLaunch
// and checkAccess never allow what the policy denies. Each oracle is stated from the policy and the
// request alone (what the command line really runs comes from how the arbitrary built it).
import { Either } from "effect"
import fc from "fast-check"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { checkAccess, owns } from "../../../src/domain/policy/check-access.js"
import { checkCommand } from "../../../src/domain/policy/check-command.js"
import { allowlistCovers, checkLaunch } from "../../../src/domain/policy/check-launch.js"
import { emptyPolicyState } from "../../../src/domain/policy/policy-state.js"
import { resolveDocument, type EffectivePolicy } from "../../../src/domain/policy/resolve.js"
import * as arb from "../../arbitraries/policy.js"
import { resources } from "../../arbitraries/config.js"

const effective = (parents: ReadonlyArray<string> = ["restricted", "standard", "permissive"]) =>
  arb.policyDocument(undefined, parents).map((document) => Either.getOrThrow(resolveDocument(document, emptyPolicyState)))

const isBlocked = (policy: EffectivePolicy, program: string): boolean =>
  policy.commands.blocked.some((entry) => {
    if (entry.startsWith("/")) return path.posix.normalize(entry) === program
    const name = path.posix.basename(program)
    return name === entry || name.startsWith(`${entry}.`)
  })

const rank = { none: 0, allowlist: 1, open: 2 } as const

describe("policy checks never allow what the policy denies", () => {
  it("checkCommand refuses every command line that would run a blocked program, a shell command string or a blocked pattern", () => {
    fc.assert(
      fc.property(effective(), arb.commandCase, (policy, command) => {
        const result = checkCommand(policy, command.argv)
        const mustDeny =
          command.runs.some((program) => isBlocked(policy, program)) ||
          (policy.commands.restrictedShell && command.unrestrictedShell) ||
          policy.commands.blockedPatterns.some((source) => new RegExp(source).test(command.argv.join(" ")))
        if (mustDeny) expect(Either.isLeft(result), `${JSON.stringify(command.argv)} under ${JSON.stringify(policy.commands)}`).toBe(true)
        if (Either.isLeft(result)) expect(result.left.rule).toMatch(/^commands(\.|$)/)
      }),
      { numRuns: 2000 }
    )
  })

  it("checkLaunch grants no more than the policy's limits, network and runners", () => {
    fc.assert(
      fc.property(
        effective(),
        resources,
        arb.requestedNetwork,
        fc.constantFrom("bwrap" as const, "containerd" as const, "qemu" as const),
        fc.option(fc.double({ min: 0.1, max: 100, noNaN: true }), { nil: undefined }),
        (policy, wanted, network, runner, hours) => {
          const result = checkLaunch(policy, { resources: wanted, network, runner, ...(hours === undefined ? {} : { sessionDurationHours: hours }) })
          if (policy.runners !== null && !policy.runners.includes(runner)) {
            expect(Either.isLeft(result)).toBe(true)
            return
          }
          const grant = Either.getOrThrow(result)
          const { limits } = policy
          const within = (value: number | undefined, max: number | undefined, asked: number | undefined) => {
            if (max !== undefined) expect(value).toBeLessThanOrEqual(max)
            if (asked !== undefined && value !== undefined) expect(value).toBeLessThanOrEqual(asked)
          }
          within(grant.resources.cpu_cores, limits.cpu_cores, wanted.cpu_cores)
          within(grant.resources.memory_mb, limits.memory_mb, wanted.memory_mb)
          within(grant.resources.pids, limits.process_count, wanted.pids)
          within(grant.resources.disk_gb, limits.disk_gb, wanted.disk_gb)
          within(grant.resources.file_handles, limits.file_handles, wanted.file_handles)
          within(grant.resources.network_mbps, limits.network_mbps, wanted.network_mbps)
          // cpu_percent is a share of the granted cores
          if (limits.cpu_percent !== undefined)
            expect(grant.resources.cpu_cores).toBeLessThanOrEqual(Math.max(0.001, (Math.min(wanted.cpu_cores, limits.cpu_cores ?? Infinity) * limits.cpu_percent) / 100 + 0.0005))
          within(grant.sessionDurationHours ?? undefined, limits.session_duration_hours, hours)
          expect(rank[grant.network.mode]).toBeLessThanOrEqual(Math.min(rank[policy.network.mode], rank[network.mode]))
          for (const entry of grant.network.allowlist ?? []) {
            if (policy.network.mode === "allowlist") expect(policy.network.allowlist.some((allowed) => allowlistCovers(allowed, entry))).toBe(true)
            if (network.mode === "allowlist") expect((network.allowlist ?? []).some((allowed) => allowlistCovers(allowed, entry))).toBe(true)
          }
          expect(grant.sudo).toBe(policy.access.sudo)
        }
      ),
      { numRuns: 1000 }
    )
  })

  it("checkAccess denies what an earlier rule denies, denies identities with no rule, and allows others' sandboxes only with scope any", () => {
    fc.assert(
      fc.property(effective(), arb.identity, arb.capability, arb.ownership, (policy, identity, capability, sandbox) => {
        const decision = checkAccess(policy, identity, capability, sandbox)
        const key = `${identity.kind}:${identity.id}`
        const agentFlag = identity.kind === "agent" ? policy.access.agents[identity.id]?.[capability] : undefined
        const overrideFlag = policy.access.overrides[key]?.[capability]
        const role = (identity.kind === "agent" ? policy.access.agents[identity.id]?.role : undefined) ??
          policy.access.assign[key] ?? policy.access.assign[`${identity.kind}:*`]
        if (agentFlag === false) expect(decision.allowed).toBe(false)
        if (agentFlag === undefined && overrideFlag === false) expect(decision.allowed).toBe(false)
        if (agentFlag === undefined && overrideFlag === undefined && (role === undefined || policy.access.roles[role]?.[capability] !== true)) {
          expect(decision.allowed).toBe(false)
        }
        if (decision.allowed && sandbox !== null && !owns(identity, sandbox)) {
          const scopes = [
            identity.kind === "agent" ? policy.access.agents[identity.id]?.scope : undefined,
            policy.access.overrides[key]?.scope,
            role === undefined ? undefined : policy.access.roles[role]?.scope
          ]
          expect(scopes).toContain("any")
        }
      }),
      { numRuns: 2000 }
    )
  })

  it("a policy with no access section and nothing to extend denies everyone everything", () => {
    fc.assert(
      fc.property(arb.policyDocument(undefined, []), arb.identity, arb.capability, arb.ownership, (document, identity, capability, sandbox) => {
        const { access: _access, ...bare } = document
        const policy = Either.getOrThrow(resolveDocument(bare, emptyPolicyState))
        expect(checkAccess(policy, identity, capability, sandbox)).toMatchObject({ allowed: false, rule: "access.default-deny" })
      })
    )
  })
})
