// A policy file (`docs/policies.md`), defined once as a Schema: one YAML document with a name, a
// description, an optional `extends` and any of the resource, access, network and command sections,
// plus per-rule-kind violation settings. Every key is optional inside a section; resolution fills the
// rest from `extends` and from deny-by-default.
import { Schema } from "effect"
import { PolicyName, PositiveInt, PositiveNumber } from "../config/config.js"
import { AllowlistEntry, FileHandles, NetworkMode, RunnerKind } from "../sandbox/template.js"

const optional = <A, I>(schema: Schema.Schema<A, I>) => Schema.optionalWith(schema, { exact: true })

// ---------------------------------------------------------------------------------------------------
// Resources

export const ResourceLimits = Schema.Struct({
  cpu_cores: optional(PositiveNumber),
  /** Share of the granted cores a sandbox may use, 1-100. */
  cpu_percent: optional(Schema.Int.pipe(Schema.between(1, 100), Schema.annotations({ description: "a percentage (1-100)" }))),
  memory_mb: optional(PositiveInt),
  disk_gb: optional(PositiveNumber),
  network_mbps: optional(PositiveNumber),
  /** The sandbox's pids limit. */
  process_count: optional(PositiveInt),
  /** Open files per process (RLIMIT_NOFILE), 16 to 1048576. */
  file_handles: optional(FileHandles),
  session_duration_hours: optional(PositiveNumber)
})
export type ResourceLimits = Schema.Schema.Type<typeof ResourceLimits>

export const ResourceQuotas = Schema.Struct({
  daily_cpu_hours: optional(PositiveNumber),
  daily_network_gb: optional(PositiveNumber),
  weekly_disk_writes_gb: optional(PositiveNumber)
})
export type ResourceQuotas = Schema.Schema.Type<typeof ResourceQuotas>

export const ResourcePolicy = Schema.Struct({
  limits: optional(ResourceLimits),
  quotas: optional(ResourceQuotas),
  /** Runners a sandbox under this policy may use; any when left out. */
  runners: optional(Schema.Array(RunnerKind))
})
export type ResourcePolicy = Schema.Schema.Type<typeof ResourcePolicy>

// ---------------------------------------------------------------------------------------------------
// Access

export const Capability = Schema.Literal("can_create", "can_exec", "can_attach_terminal", "can_share", "can_read_audit")
export type Capability = Schema.Schema.Type<typeof Capability>
export const capabilities: ReadonlyArray<Capability> = Capability.literals

export const IdentityKind = Schema.Literal("operator", "agent", "model", "team")
export type IdentityKind = Schema.Schema.Type<typeof IdentityKind>

export const BuiltinRoleName = Schema.Literal("trusted", "sandboxed", "audited")
export const RoleName = Schema.String.pipe(
  Schema.pattern(/^[a-z][a-z0-9_-]{0,62}$/),
  Schema.annotations({ identifier: "RoleName", description: "a role name (lower-case letters, digits, '-' and '_')" })
)

/** `kind:id` (`model:llama3`, `team:alpha`) or `kind:*` for every identity of a kind. */
export const IdentityKey = Schema.String.pipe(
  Schema.pattern(/^(operator|agent|model|team):(\*|[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127})$/),
  Schema.annotations({ identifier: "IdentityKey", description: "an identity 'kind:id' or 'kind:*' (kind: operator, agent, model or team)" })
)

/** `own`: only sandboxes the identity owns (launched, or launched for it); `any`: every sandbox. */
export const Scope = Schema.Literal("own", "any")
export type Scope = Schema.Schema.Type<typeof Scope>

const capabilityFlags = {
  can_create: optional(Schema.Boolean),
  can_exec: optional(Schema.Boolean),
  can_attach_terminal: optional(Schema.Boolean),
  can_share: optional(Schema.Boolean),
  can_read_audit: optional(Schema.Boolean),
  scope: optional(Scope)
}

const auditOffMessage =
  "auditing cannot be switched off by a policy: every action is recorded in the ledger whatever the policy says (remove the key or set it to true)"

/** `audit`/`audited` may only be true: a policy can never switch the ledger off. */
export const AlwaysAudited = Schema.Boolean.pipe(
  Schema.filter((on) => on || auditOffMessage),
  Schema.annotations({ description: "true (auditing is always on)" })
)

export const Role = Schema.Struct({ ...capabilityFlags, audited: optional(AlwaysAudited) })
export type Role = Schema.Schema.Type<typeof Role>

/** Rules for one agent id: checked first. */
export const AgentRule = Schema.Struct({ ...capabilityFlags, role: optional(RoleName) })
export type AgentRule = Schema.Schema.Type<typeof AgentRule>

/** Rules for one identity (`model:llama3`): checked after the agent's own rules, before its role. */
export const IdentityOverride = Schema.Struct(capabilityFlags)
export type IdentityOverride = Schema.Schema.Type<typeof IdentityOverride>

export const AgentKey = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9._-]{0,62}$/),
  Schema.annotations({ identifier: "AgentId", description: "an agent id (lower-case letters, digits, '.', '_' and '-')" })
)

/** A Linux capability kept inside the sandbox (`CAP_NET_BIND_SERVICE`); all others are dropped. */
export const LinuxCapability = Schema.String.pipe(
  Schema.pattern(/^CAP_[A-Z_]{2,32}$/),
  Schema.annotations({ identifier: "LinuxCapability", description: "a Linux capability name (CAP_…)" })
)

const builtinRoleNames: ReadonlyArray<string> = BuiltinRoleName.literals

export const AccessPolicy = Schema.Struct({
  roles: optional(Schema.Record({ key: RoleName, value: Role })),
  /** Which role each identity (or kind, with `*`) has. */
  assign: optional(Schema.Record({ key: IdentityKey, value: RoleName })),
  agents: optional(Schema.Record({ key: AgentKey, value: AgentRule })),
  overrides: optional(Schema.Record({ key: IdentityKey, value: IdentityOverride })),
  /** Whether processes in the sandbox may gain root through sudo. */
  sudo: optional(Schema.Boolean),
  linux_capabilities: optional(Schema.Array(LinuxCapability))
}).pipe(
  Schema.filter((access) => {
    const defined = new Set([...builtinRoleNames, ...Object.keys(access.roles ?? {})])
    const assigned = Object.entries(access.assign ?? {}).find(([, role]) => !defined.has(role))
    if (assigned !== undefined) {
      return { path: ["assign", assigned[0]], message: `role '${assigned[1]}' is not defined (built-in roles: ${builtinRoleNames.join(", ")}; others must be under access.roles)` }
    }
    const agent = Object.entries(access.agents ?? {}).find(([, rule]) => rule.role !== undefined && !defined.has(rule.role))
    if (agent !== undefined) {
      return { path: ["agents", agent[0], "role"], message: `role '${agent[1].role}' is not defined (built-in roles: ${builtinRoleNames.join(", ")}; others must be under access.roles)` }
    }
    return undefined
  })
)
export type AccessPolicy = Schema.Schema.Type<typeof AccessPolicy>

// ---------------------------------------------------------------------------------------------------
// Network

const dnsName = /^(\*\.)?(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i
export const DnsName = Schema.String.pipe(
  Schema.filter((text) => dnsName.test(text)),
  Schema.annotations({ identifier: "DnsName", description: "a DNS name, optionally '*.'-prefixed" })
)

export const DnsPolicy = Schema.Struct({
  /** Resolve only names on the allowlist (mode allowlist); every lookup is recorded either way. */
  filter: optional(Schema.Boolean),
  /** Names never resolved, whatever the mode. */
  blocked: optional(Schema.Array(DnsName))
})
export type DnsPolicy = Schema.Schema.Type<typeof DnsPolicy>

export const NetworkPolicy = Schema.Struct({
  mode: optional(NetworkMode),
  allowlist: optional(Schema.Array(AllowlistEntry)),
  dns: optional(DnsPolicy)
}).pipe(
  Schema.filter((network) =>
    network.mode === undefined || network.mode === "allowlist" || network.allowlist === undefined || network.allowlist.length === 0
      ? undefined
      : { path: ["allowlist"], message: `entries only apply when mode is "allowlist" (mode is "${network.mode}")` }
  )
)
export type NetworkPolicy = Schema.Schema.Type<typeof NetworkPolicy>

// ---------------------------------------------------------------------------------------------------
// Commands

/** A program by name (`rm`, matched on any path) or by absolute path (`/usr/bin/rm`). */
export const CommandName = Schema.String.pipe(
  Schema.pattern(/^(\/[^\0]*|[A-Za-z0-9._+-]+)$/),
  Schema.annotations({ identifier: "CommandName", description: "a program name (rm) or an absolute path (/usr/bin/rm)" })
)

const compiles = (source: string): boolean => {
  try {
    new RegExp(source)
    return true
  } catch {
    return false
  }
}

/** A JavaScript regular expression matched against the command line (argv joined by spaces). */
export const ArgumentPattern = Schema.String.pipe(
  Schema.minLength(1),
  Schema.filter((source) => compiles(source) || "not a valid regular expression"),
  Schema.annotations({ identifier: "ArgumentPattern", description: "a regular expression" })
)

export const CommandPolicy = Schema.Struct({
  blocked: optional(Schema.Array(CommandName)),
  blocked_patterns: optional(Schema.Array(ArgumentPattern)),
  /** No shell given a command string (`sh -c`, `bash -lc`) or reading commands from stdin. */
  restricted_shell: optional(Schema.Boolean)
})
export type CommandPolicy = Schema.Schema.Type<typeof CommandPolicy>

// ---------------------------------------------------------------------------------------------------
// Violations

export const Severity = Schema.Literal("low", "medium", "high", "critical")
export type Severity = Schema.Schema.Type<typeof Severity>

export const ViolationAction = Schema.Literal("alert", "kill-process", "pause", "stop")
export type ViolationAction = Schema.Schema.Type<typeof ViolationAction>

export const RuleKind = Schema.Literal("resource-limit", "quota", "network", "dns", "command", "access")
export type RuleKind = Schema.Schema.Type<typeof RuleKind>

export const ViolationSetting = Schema.Struct({ severity: optional(Severity), action: optional(ViolationAction) })
export type ViolationSetting = Schema.Schema.Type<typeof ViolationSetting>

export const ViolationSettings = Schema.Struct({
  "resource-limit": optional(ViolationSetting),
  quota: optional(ViolationSetting),
  network: optional(ViolationSetting),
  dns: optional(ViolationSetting),
  command: optional(ViolationSetting),
  access: optional(ViolationSetting)
})
export type ViolationSettings = Schema.Schema.Type<typeof ViolationSettings>

// ---------------------------------------------------------------------------------------------------
// The document

export const PolicyDocument = Schema.Struct({
  name: PolicyName,
  description: Schema.String,
  extends: optional(PolicyName),
  audit: optional(AlwaysAudited),
  resources: optional(ResourcePolicy),
  access: optional(AccessPolicy),
  network: optional(NetworkPolicy),
  commands: optional(CommandPolicy),
  violations: optional(ViolationSettings)
}).annotations({ identifier: "PolicyDocument", title: "Hydravisor policy", description: "One policy: docs/policies.md" })
export type PolicyDocument = Schema.Schema.Type<typeof PolicyDocument>
export type PolicyDocumentJson = Schema.Schema.Encoded<typeof PolicyDocument>

