// The built-in policies (`restricted`, the default; `standard`; `permissive`) and the built-in roles
// every policy starts from. Their names are reserved: an applied policy may extend them, not replace
// them. They are plain documents, decoded like any file, so a broken built-in fails at load.
import { Schema } from "effect"
import { PolicyDocument, Role } from "./policy-document.js"
import type { PolicyDocumentJson, RuleKind, Severity, ViolationAction } from "./policy-document.js"

/** What each built-in role may do when a policy does not redefine it. */
export const builtinRoles: Readonly<Record<"trusted" | "sandboxed" | "audited", Role>> = {
  trusted: { can_create: true, can_exec: true, can_attach_terminal: true, can_share: true, can_read_audit: true, scope: "any" },
  audited: { can_create: true, can_exec: true, can_attach_terminal: true, can_share: false, can_read_audit: true, scope: "own" },
  sandboxed: { can_create: false, can_exec: true, can_attach_terminal: false, can_share: false, can_read_audit: false, scope: "own" }
}

/** Severity and action of a violation when no policy in the chain sets them. */
export const defaultViolations: Readonly<Record<RuleKind, { readonly severity: Severity; readonly action: ViolationAction }>> = {
  "resource-limit": { severity: "medium", action: "alert" },
  quota: { severity: "high", action: "pause" },
  network: { severity: "high", action: "alert" },
  dns: { severity: "medium", action: "alert" },
  command: { severity: "high", action: "kill-process" },
  access: { severity: "high", action: "alert" }
}

// Programs with no business inside a sandbox: privilege changes, mounts, namespaces, kernel modules,
// disks, power and the host firewall.
const hostLevelCommands = [
  "sudo", "su", "doas", "mount", "umount", "nsenter", "unshare", "chroot", "pivot_root", "insmod", "rmmod", "modprobe",
  "mkfs", "fdisk", "parted", "reboot", "shutdown", "halt", "poweroff", "setcap", "iptables", "nft"
]

const restricted: PolicyDocumentJson = {
  name: "restricted",
  description: "The default: no network, tight limits, host-level programs blocked",
  resources: {
    limits: { cpu_cores: 1, memory_mb: 1024, disk_gb: 4, process_count: 256, file_handles: 1024, session_duration_hours: 8 },
    quotas: { daily_cpu_hours: 8, daily_network_gb: 1, weekly_disk_writes_gb: 10 }
  },
  access: {
    assign: { "operator:*": "trusted", "agent:*": "audited", "model:*": "sandboxed", "team:*": "sandboxed" },
    sudo: false,
    linux_capabilities: []
  },
  network: { mode: "none", dns: { filter: true } },
  commands: {
    blocked: hostLevelCommands,
    blocked_patterns: ["(^|\\s)rm\\s+(-[A-Za-z]*\\s+)*(/|/\\*)(\\s|$)", ":\\(\\)\\s*\\{\\s*:\\s*\\|\\s*:"],
    restricted_shell: false
  },
  violations: { network: { severity: "critical", action: "stop" }, command: { severity: "high", action: "kill-process" } }
}

const standard: PolicyDocumentJson = {
  name: "standard",
  description: "Development work: egress to package registries through the proxy, moderate limits",
  resources: {
    limits: { cpu_cores: 2, cpu_percent: 80, memory_mb: 4096, disk_gb: 20, network_mbps: 10, process_count: 512, file_handles: 4096, session_duration_hours: 8 },
    quotas: { daily_cpu_hours: 16, daily_network_gb: 5, weekly_disk_writes_gb: 50 }
  },
  access: {
    assign: { "operator:*": "trusted", "agent:*": "audited", "model:*": "sandboxed", "team:*": "audited" },
    sudo: false,
    linux_capabilities: []
  },
  network: {
    mode: "allowlist",
    allowlist: [
      { host: "pypi.org", port: 443 },
      { host: "files.pythonhosted.org", port: 443 },
      { host: "registry.npmjs.org", port: 443 },
      { host: "deb.debian.org", port: 443 },
      { host: "github.com", port: 443 },
      { host: "codeload.github.com", port: 443 }
    ],
    dns: { filter: true }
  },
  commands: { blocked: hostLevelCommands, restricted_shell: false }
}

const permissive: PolicyDocumentJson = {
  name: "permissive",
  description: "Trusted workloads: open (recorded) network, generous limits; still audited, still isolated",
  resources: {
    limits: { cpu_cores: 4, memory_mb: 8192, disk_gb: 50, process_count: 2048, file_handles: 65536, session_duration_hours: 24 }
  },
  access: {
    assign: { "operator:*": "trusted", "agent:*": "audited", "model:*": "audited", "team:*": "audited" },
    sudo: false,
    linux_capabilities: []
  },
  network: { mode: "open", dns: { filter: false } },
  commands: { blocked: ["mount", "umount", "nsenter", "insmod", "rmmod", "modprobe", "reboot", "shutdown", "halt", "poweroff"] }
}

const decode = Schema.decodeUnknownSync(PolicyDocument, { onExcessProperty: "error" })

export const builtinPolicies: ReadonlyMap<string, PolicyDocument> = new Map(
  [restricted, standard, permissive].map((document) => [document.name, decode(document)])
)

export const builtinPolicyNames: ReadonlyArray<string> = [...builtinPolicies.keys()]

export const isBuiltinPolicy = (name: string): boolean => builtinPolicies.has(name)

/** The policy a sandbox gets when neither the launch, the agent nor the template names one. */
export const defaultPolicyName = "restricted"
