// Arbitraries for policies, identities, command lines and usage: every policy they make decodes with
// PolicyDocument. Names come from small pools so that rules, identities and commands meet often.
import fc from "fast-check"
import * as path from "node:path"
import type { Identity, SandboxOwnership } from "../../src/domain/policy/check-access.js"
import type { AccessPolicy, Capability, PolicyDocument, Role } from "../../src/domain/policy/policy-document.js"
import type { UsageSample } from "../../src/domain/policy/quotas.js"
import type { AllowlistEntry, Network } from "../../src/domain/sandbox/template.js"
import { network as templateNetwork, positiveInt, positiveNumber, text } from "./config.js"


export const capability: fc.Arbitrary<Capability> = fc.constantFrom("can_create", "can_exec", "can_attach_terminal", "can_share", "can_read_audit")
export const agentIds = ["coder-1", "coder-2", "research"] as const
export const programs = ["rm", "ls", "curl", "mkfs", "python3", "cat", "dd", "nc"] as const
export const hosts = ["pypi.org", "*.debian.org", "deb.debian.org", "github.com", "10.0.0.0/8", "10.1.2.3"] as const

export const identity: fc.Arbitrary<Identity> = fc.oneof(
  fc.record({ kind: fc.constant("operator" as const), id: fc.constantFrom("alice", "bob") }),
  fc.record({ kind: fc.constant("agent" as const), id: fc.constantFrom(...agentIds) }),
  fc.record({ kind: fc.constant("model" as const), id: fc.constantFrom("llama3", "claude") }),
  fc.record({ kind: fc.constant("team" as const), id: fc.constantFrom("alpha", "beta") })
)

const identityKey = fc.oneof(
  identity.map((i) => `${i.kind}:${i.id}`),
  fc.constantFrom("operator:*", "agent:*", "model:*", "team:*")
)

export const ownership: fc.Arbitrary<SandboxOwnership | null> = fc.option(
  fc.record({
    owner: fc.oneof(identity, fc.record({ kind: fc.constant("system"), id: fc.constant("daemon") })),
    agent: fc.option(fc.constantFrom(...agentIds), { nil: null }),
    team: fc.option(fc.constantFrom("alpha", "beta"), { nil: null })
  }),
  { nil: null }
)

const partial = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record(model, { requiredKeys: [] })

const flags = {
  can_create: fc.boolean(),
  can_exec: fc.boolean(),
  can_attach_terminal: fc.boolean(),
  can_share: fc.boolean(),
  can_read_audit: fc.boolean(),
  scope: fc.constantFrom("own" as const, "any" as const)
}
const roleName = fc.constantFrom("trusted", "sandboxed", "audited")
export const role: fc.Arbitrary<Role> = partial(flags)

export const access: fc.Arbitrary<AccessPolicy> = partial({
  roles: fc.dictionary(roleName, role, { maxKeys: 3 }),
  assign: fc.dictionary(identityKey, roleName, { maxKeys: 4 }),
  agents: fc.dictionary(fc.constantFrom(...agentIds), partial({ ...flags, role: roleName }), { maxKeys: 3 }),
  overrides: fc.dictionary(identityKey, partial(flags), { maxKeys: 3 }),
  sudo: fc.boolean(),
  linux_capabilities: fc.array(fc.constantFrom("CAP_NET_BIND_SERVICE", "CAP_CHOWN"), { maxLength: 2 })
})

export const allowlistEntry: fc.Arbitrary<AllowlistEntry> = fc.record(
  { host: fc.constantFrom<string>(...hosts), port: fc.constantFrom(80, 443) },
  { requiredKeys: ["host"] }
)

export const policyNetwork = fc.oneof(
  fc.record({ mode: fc.constantFrom("none" as const, "open" as const) }),
  fc.record({ mode: fc.constant("allowlist" as const), allowlist: fc.array(allowlistEntry, { maxLength: 4 }) })
)

/** A template network drawn from the same hosts, so that allowlists overlap. */
export const requestedNetwork: fc.Arbitrary<Network> = fc.oneof(
  templateNetwork,
  fc.record({ mode: fc.constant("allowlist" as const), allowlist: fc.array(allowlistEntry, { maxLength: 4 }) })
)

export const commandPolicy = partial({
  blocked: fc.array(fc.oneof(fc.constantFrom<string>(...programs), fc.constantFrom("/usr/bin/curl", "/bin/dd")), { maxLength: 4 }),
  blocked_patterns: fc.array(fc.constantFrom("rm\\s+-rf", "curl .*\\|", "--force"), { maxLength: 2 }),
  restricted_shell: fc.boolean()
})

export const limits = partial({
  cpu_cores: positiveNumber(8),
  cpu_percent: fc.integer({ min: 1, max: 100 }),
  memory_mb: positiveInt(16384),
  disk_gb: positiveNumber(100),
  network_mbps: positiveNumber(100),
  process_count: positiveInt(4096),
  file_handles: fc.integer({ min: 16, max: 65536 }),
  session_duration_hours: positiveNumber(48)
})

export const severity = fc.constantFrom("low" as const, "medium" as const, "high" as const, "critical" as const)
export const action = fc.constantFrom("alert" as const, "kill-process" as const, "pause" as const, "stop" as const)
const setting = partial({ severity, action })

/** A valid policy document; `parents` are the names `extends` may take (none: no `extends`). */
export const policyDocument = (
  name: fc.Arbitrary<string> = fc.constantFrom("team-a", "ci", "lab"),
  parents: ReadonlyArray<string> = ["restricted", "standard", "permissive"]
): fc.Arbitrary<PolicyDocument> =>
  fc.record(
    {
      name,
      description: text(),
      ...(parents.length === 0 ? {} : { extends: fc.constantFrom(...parents) }),
      audit: fc.constant(true as const),
      resources: partial({
        limits,
        quotas: partial({ daily_cpu_hours: positiveNumber(24), daily_network_gb: positiveNumber(10), weekly_disk_writes_gb: positiveNumber(100) }),
        runners: fc.subarray(["bwrap", "containerd", "qemu"] as const)
      }),
      access,
      network: policyNetwork,
      commands: commandPolicy,
      violations: partial({ command: setting, network: setting, quota: setting })
    },
    { requiredKeys: ["name", "description"] }
  ) as fc.Arbitrary<PolicyDocument>

/** A command line and what it would really run: the programs (normalised paths) and whether a shell reads a command string or stdin. */
export interface CommandCase {
  readonly argv: ReadonlyArray<string>
  readonly runs: ReadonlyArray<string>
  readonly unrestrictedShell: boolean
}

const quote = (word: string): string => `'${word.replace(/'/g, "'\\''")}'`
const wrap = (prefix: ReadonlyArray<string>, suffix: ReadonlyArray<string> = []) => (inner: CommandCase): CommandCase => ({
  argv: [...prefix, ...inner.argv, ...suffix],
  runs: [path.posix.normalize(prefix[0] ?? ""), ...inner.runs],
  unrestrictedShell: inner.unrestrictedShell
})

/** Command lines built from the program pool: plain, through wrappers, `find -exec` and shells, with path tricks. */
export const commandCase: fc.Arbitrary<CommandCase> = fc.letrec<{ command: CommandCase }>((tie) => ({
  command: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc
      .tuple(
        fc.constantFrom<string>(...programs, "/usr/bin/rm", "/usr/bin/../bin/curl", "./dd", "bin//nc", "/sbin/mkfs.ext4"),
        fc.array(fc.constantFrom("-rf", "/", "x", "--force", "|", "a b", "it's"), { maxLength: 3 })
      )
      .map(([program, args]): CommandCase => ({ argv: [program, ...args], runs: [path.posix.normalize(program)], unrestrictedShell: false })),
    tie("command").map(wrap(["env", "A=1"])),
    tie("command").map(wrap(["busybox"])),
    tie("command").map(wrap(["nice", "-n", "5"])),
    tie("command").map(wrap(["timeout", "10"])),
    tie("command").map(wrap(["sudo", "-u", "root", "--"])),
    tie("command").map(wrap(["find", ".", "-exec"], [";"])),
    fc.tuple(fc.constantFrom("sh", "bash", "/bin/sh"), tie("command")).map(([shell, inner]): CommandCase => ({
      argv: [shell, "-c", inner.argv.map(quote).join(" ")],
      runs: [shell, ...inner.runs],
      unrestrictedShell: true
    })),
    fc.constantFrom<CommandCase>(
      { argv: ["sh"], runs: ["sh"], unrestrictedShell: true },
      { argv: ["bash", "-s"], runs: ["bash"], unrestrictedShell: true },
      { argv: ["bash", "script.sh"], runs: ["bash"], unrestrictedShell: false },
      { argv: ["dash", "-lc", "ls"], runs: ["dash", "ls"], unrestrictedShell: true }
    )
  )
})).command

export const usageSample: fc.Arbitrary<UsageSample> = fc.record({
  at: fc.date({ min: new Date("2024-01-01T00:00:00Z"), max: new Date("2024-03-01T00:00:00Z"), noInvalidDate: true }).map((d) => d.toISOString()),
  cpuSeconds: fc.integer({ min: 0, max: 20_000 }),
  networkBytes: fc.integer({ min: 0, max: 2 ** 31 }),
  diskWriteBytes: fc.integer({ min: 0, max: 2 ** 33 })
})

