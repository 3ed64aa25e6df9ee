// The pure policy API by example: resolution over `extends`, the command bypasses docs/policies.md
// promises to catch, launch narrowing, access resolution order, rule actions and quotas.
import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { builtinPolicies, defaultPolicyName } from "../../../src/domain/policy/builtins.js"
import { checkAccess } from "../../../src/domain/policy/check-access.js"
import { checkCommand } from "../../../src/domain/policy/check-command.js"
import { checkLaunch } from "../../../src/domain/policy/check-launch.js"
import { PolicyDocument } from "../../../src/domain/policy/policy-document.js"
import { contentHashOf, emptyPolicyState, evolvePolicyState, planApply, type PolicyState } from "../../../src/domain/policy/policy-state.js"
import { exceededQuotas, isoWeek } from "../../../src/domain/policy/quotas.js"
import { resolveDocument, resolvePolicy } from "../../../src/domain/policy/resolve.js"
import { ruleAction } from "../../../src/domain/policy/rule-action.js"

const doc = (value: unknown): PolicyDocument => Schema.decodeUnknownSync(PolicyDocument, { onExcessProperty: "error" })(value)
const applied = (...documents: ReadonlyArray<PolicyDocument>): PolicyState =>
  documents.reduce((state, document, i) => evolvePolicyState(state, {
    name: document.name, version: (state[document.name]?.current.version ?? 0) + 1, contentHash: contentHashOf(document),
    document, source: "test", recordId: `r${i}`, at: "2024-01-01T00:00:00.000000Z"
  }), emptyPolicyState)
const resolved = (name: string, state: PolicyState = emptyPolicyState) => Either.getOrThrow(resolvePolicy(name, state))
const policyWith = (commands: unknown) => Either.getOrThrow(resolveDocument(doc({ name: "t", description: "", commands }), emptyPolicyState))

describe("resolvePolicy", () => {
  it("knows the three built-ins, restricted being the default with no network", () => {
    expect([...builtinPolicies.keys()]).toEqual(["restricted", "standard", "permissive"])
    const restricted = resolved(defaultPolicyName)
    expect(restricted).toMatchObject({ origin: "builtin", version: null, chain: ["restricted"], network: { mode: "none" } })
    expect(restricted.contentHash).toMatch(/^[0-9a-f]{64}$/)
  })

  it("merges a policy over what it extends: mappings key by key, lists replaced, allowlist dropped with the mode", () => {
    const child = doc({ name: "ci", description: "CI", extends: "standard", resources: { limits: { memory_mb: 2048 } }, network: { mode: "none" }, commands: { blocked: ["curl"] } })
    const policy = resolved("ci", applied(child))
    expect(policy).toMatchObject({ origin: "applied", version: 1, chain: ["ci", "standard"] })
    expect(policy.limits).toMatchObject({ memory_mb: 2048, cpu_cores: 2 })
    expect(policy.network).toMatchObject({ mode: "none", allowlist: [] })
    expect(policy.commands.blocked).toEqual(["curl"])
    expect(policy.document.extends).toBeUndefined()
  })

  it("refuses an unknown name and a cycle of extends", () => {
    expect(Either.getLeft(resolvePolicy("nope", emptyPolicyState)).pipe((e) => e._tag === "Some" && e.value._tag)).toBe("UnknownPolicy")
    const state = applied(doc({ name: "a", description: "", extends: "b" }), doc({ name: "b", description: "", extends: "a" }))
    const cycle = resolvePolicy("a", state)
    expect(Either.isLeft(cycle) && cycle.left.message).toBe("policy 'extends' forms a cycle: a → b → a")
  })

  it("hashes content, not formatting: re-applying the same document is planned as unchanged", () => {
    const a = doc({ name: "x", description: "d", network: { mode: "none" }, audit: true })
    const b = doc({ audit: true, network: { mode: "none" }, description: "d", name: "x" })
    expect(contentHashOf(a)).toBe(contentHashOf(b))
    expect(planApply(applied(a), b)._tag).toBe("Unchanged")
    expect(planApply(applied(a), doc({ name: "x", description: "changed" }))).toMatchObject({ _tag: "NewVersion", version: 2 })
  })
})

describe("checkCommand", () => {
  const policy = policyWith({ blocked: ["rm", "/usr/bin/curl", "mkfs"], blocked_patterns: ["--no-preserve-root"], restricted_shell: true })
  const denied = (argv: ReadonlyArray<string>) => Either.getLeft(checkCommand(policy, argv)).pipe((e) => (e._tag === "Some" ? e.value.rule : "allowed"))

  it.each([
    [["rm", "-rf", "x"], "commands.blocked[0]"],
    [["/usr/bin/../bin/rm", "x"], "commands.blocked[0]"],
    [["/usr/bin/./curl"], "commands.blocked[1]"],
    [["env", "-i", "A=1", "rm", "x"], "commands.blocked[0]"],
    [["env", "-S", "rm -rf x"], "commands.blocked[0]"],
    [["busybox", "rm", "x"], "commands.blocked[0]"],
    [["nice", "-n", "5", "timeout", "-s", "KILL", "10", "rm"], "commands.blocked[0]"],
    [["find", ".", "-name", "*.o", "-exec", "rm", "{}", ";"], "commands.blocked[0]"],
    [["xargs", "-n", "1", "rm"], "commands.blocked[0]"],
    [["mkfs.ext4", "/dev/sda"], "commands.blocked[2]"],
    [["sh", "-c", "ls"], "commands.restricted_shell"],
    [["bash", "-lc", "ls"], "commands.restricted_shell"],
    [["bash"], "commands.restricted_shell"],
    [["ls", "--no-preserve-root"], "commands.blocked_patterns[0]"],
    [[], "commands"]
  ])("refuses %j (%s)", (argv, rule) => {
    expect(denied(argv)).toBe(rule)
  })

  it("sees programs inside shell strings, quotes and command substitutions when shells are allowed", () => {
    const open = policyWith({ blocked: ["rm"] })
    const rule = (argv: ReadonlyArray<string>) => Either.isLeft(checkCommand(open, argv))
    expect(rule(["sh", "-c", "cd /tmp && rm -rf x"])).toBe(true)
    expect(rule(["bash", "-c", "echo \"$(rm x)\""])).toBe(true)
    expect(rule(["sh", "-c", "sh -c 'r''m x'"])).toBe(true)
    expect(rule(["sh", "-c", "echo `rm x`"])).toBe(true)
    expect(rule(["sh", "-c", "echo rm > rm.txt; ls"])).toBe(false)
    expect(Either.getOrThrow(checkCommand(open, ["bash", "script.sh"])).programs).toEqual(["bash"])
  })

  it("allows what no rule names, listing the programs it looked at", () => {
    expect(Either.getOrThrow(checkCommand(policy, ["env", "FOO=1", "/usr/bin/ls", "-l"])).programs).toEqual(["env", "/usr/bin/ls"])
    expect(denied(["bash", "script.sh"])).toBe("allowed")
  })
})

describe("checkLaunch", () => {
  const template = { resources: { cpu_cores: 4, memory_mb: 8192, pids: 1000, disk_gb: 10 }, network: { mode: "open" as const }, runner: "bwrap" as const, sessionDurationHours: 48 }

  it("narrows a template to the policy: the smaller limit and the stricter network", () => {
    const grant = Either.getOrThrow(checkLaunch(resolved("standard"), template))
    // standard: 2 cores at cpu_percent 80 are 1.6 cores of CPU time; file_handles 4096; network_mbps 10
    expect(grant.resources).toEqual({ cpu_cores: 1.6, memory_mb: 4096, pids: 512, disk_gb: 10, file_handles: 4096, network_mbps: 10 })
    expect(grant.narrowed).toEqual(expect.arrayContaining([
      { field: "resources.cpu_cores", from: 4, to: 2, rule: "resources.limits.cpu_cores" },
      { field: "resources.cpu_cores", from: 2, to: 1.6, rule: "resources.limits.cpu_percent" },
      { field: "resources.file_handles", from: null, to: 4096, rule: "resources.limits.file_handles" },
      { field: "resources.network_mbps", from: null, to: 10, rule: "resources.limits.network_mbps" }
    ]))
    expect(grant.sessionDurationHours).toBe(8)
    expect(grant.network.mode).toBe("allowlist")
    expect(grant.network.allowlist).toContainEqual({ host: "pypi.org", port: 443 })
    expect(grant.narrowed.map((n) => n.field)).toEqual(expect.arrayContaining(["resources.cpu_cores", "network"]))
    expect(Either.getOrThrow(checkLaunch(resolved("restricted"), template)).network).toEqual({ mode: "none" })
  })

  it("narrows network_mbps like the other limits: the policy's when the template asks more or nothing", () => {
    const asking = (network_mbps: number) => ({ ...template, resources: { ...template.resources, network_mbps } })
    expect(Either.getOrThrow(checkLaunch(resolved("standard"), asking(100))).resources.network_mbps).toBe(10)
    expect(Either.getOrThrow(checkLaunch(resolved("standard"), asking(2.5))).resources.network_mbps).toBe(2.5)
    expect(Either.getOrThrow(checkLaunch(resolved("restricted"), asking(2.5))).resources.network_mbps).toBe(2.5)
    expect(Either.getOrThrow(checkLaunch(resolved("restricted"), template)).resources.network_mbps).toBeUndefined()
  })

  it("keeps only allowlist entries both sides allow", () => {
    const policy = Either.getOrThrow(resolveDocument(doc({ name: "n", description: "", network: { mode: "allowlist", allowlist: [{ host: "*.debian.org", port: 443 }, { host: "10.0.0.0/8" }] } }), emptyPolicyState))
    const grant = Either.getOrThrow(checkLaunch(policy, { ...template, network: { mode: "allowlist", allowlist: [{ host: "deb.debian.org" }, { host: "pypi.org", port: 443 }, { host: "10.1.2.3", port: 22 }] } }))
    expect(grant.network).toEqual({ mode: "allowlist", allowlist: [{ host: "deb.debian.org", port: 443 }, { host: "10.1.2.3", port: 22 }] })
  })

  it("refuses a runner the policy does not allow", () => {
    const policy = Either.getOrThrow(resolveDocument(doc({ name: "n", description: "", resources: { runners: ["containerd"] } }), emptyPolicyState))
    const refused = checkLaunch(policy, template)
    expect(Either.isLeft(refused) && refused.left.message).toBe("policy n: resources.runners: runner bwrap is not allowed (allowed: containerd)")
  })
})

describe("checkAccess", () => {
  const policy = Either.getOrThrow(resolveDocument(doc({
    name: "team", description: "", extends: "restricted",
    access: {
      assign: { "team:alpha": "audited" },
      agents: { "coder-1": { can_share: true, role: "sandboxed" } },
      overrides: { "model:llama3": { can_exec: false }, "agent:coder-1": { can_exec: false } }
    }
  }), emptyPolicyState))
  const mine = { owner: { kind: "operator", id: "alice" }, agent: "coder-1", team: null }
  const theirs = { owner: { kind: "operator", id: "alice" }, agent: "coder-2", team: null }

  it("resolves agent rule, then override, then role, then deny", () => {
    expect(checkAccess(policy, { kind: "agent", id: "coder-1" }, "can_share", mine)).toMatchObject({ allowed: true, rule: "access.agents.coder-1.can_share" })
    expect(checkAccess(policy, { kind: "agent", id: "coder-1" }, "can_exec", mine)).toMatchObject({ allowed: false, rule: "access.overrides.\"agent:coder-1\".can_exec" })
    expect(checkAccess(policy, { kind: "agent", id: "coder-1" }, "can_create", null)).toMatchObject({ allowed: false, rule: "access.roles.sandboxed.can_create" })
    expect(checkAccess(policy, { kind: "model", id: "llama3" }, "can_exec", mine)).toMatchObject({ allowed: false, rule: "access.overrides.\"model:llama3\".can_exec" })
    expect(checkAccess(policy, { kind: "operator", id: "bob" }, "can_read_audit", theirs)).toMatchObject({ allowed: true, rule: "access.roles.trusted.can_read_audit" })
    const nobody = Either.getOrThrow(resolveDocument(doc({ name: "bare", description: "" }), emptyPolicyState))
    expect(checkAccess(nobody, { kind: "operator", id: "alice" }, "can_create", null)).toMatchObject({ allowed: false, rule: "access.default-deny" })
  })

  it("keeps an agent to its own sandboxes unless the scope is any", () => {
    const agent = { kind: "agent" as const, id: "coder-2" }
    expect(checkAccess(policy, agent, "can_exec", theirs).allowed).toBe(true)
    const other = checkAccess(policy, agent, "can_exec", mine)
    expect(other).toMatchObject({ allowed: false, rule: "access.roles.audited.can_exec" })
    expect(other.reason).toContain("only on its own sandboxes")
  })
})

describe("ruleAction and quotas", () => {
  it("takes severity and action from the policy, else the rule kind's default", () => {
    expect(ruleAction(resolved("restricted"), "network")).toEqual({ severity: "critical", action: "stop" })
    expect(ruleAction(resolved("permissive"), "command")).toEqual({ severity: "high", action: "kill-process" })
    expect(ruleAction(resolved("permissive"), "quota")).toEqual({ severity: "high", action: "pause" })
  })

  it("sums usage per UTC day and ISO week and reports each period over a quota", () => {
    expect(isoWeek("2024-12-30T10:00:00Z")).toBe("2025-W01")
    expect(isoWeek("2021-01-03T10:00:00Z")).toBe("2020-W53")
    const samples = [
      { at: "2024-05-01T23:00:00Z", cpuSeconds: 3 * 3600, networkBytes: 0, diskWriteBytes: 6 * 2 ** 30 },
      { at: "2024-05-01T23:30:00Z", cpuSeconds: 2 * 3600, networkBytes: 2 ** 30, diskWriteBytes: 5 * 2 ** 30 },
      { at: "2024-05-02T00:30:00Z", cpuSeconds: 3600, networkBytes: 0, diskWriteBytes: 0 }
    ]
    expect(exceededQuotas({ daily_cpu_hours: 4, daily_network_gb: 1, weekly_disk_writes_gb: 10 }, samples)).toEqual([
      { quota: "daily_cpu_hours", rule: "resources.quotas.daily_cpu_hours", period: "2024-05-01", used: 5, limit: 4, unit: "hours" },
      { quota: "weekly_disk_writes_gb", rule: "resources.quotas.weekly_disk_writes_gb", period: "2024-W18", used: 11, limit: 10, unit: "GB" }
    ])
  })
})
