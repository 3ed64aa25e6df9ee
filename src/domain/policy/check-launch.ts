// A launch under a policy: the template's resources and network narrowed by the policy (the smaller of
// each limit; the stricter network mode; an allowlist cut down to what both allow), or a refusal when
// the policy forbids the runner. The result is what the sandbox actually gets: `cpu_percent` is a share
// of the granted cores, so it is folded into `cpu_cores` (2 cores at 80 % are 1.6 cores of CPU time,
// which is what the runners' CPU quota enforces), recorded as a narrowing by that rule.
import { Either } from "effect"
import type { AllowlistEntry, Network, NetworkMode, Resources, RunnerKind } from "../sandbox/template.js"
import { PolicyDenied } from "./policy-denied.js"
import type { EffectivePolicy } from "./resolve.js"

export interface LaunchRequest {
  readonly resources: Resources
  readonly network: Network
  readonly runner: RunnerKind
  /** The template's session_duration_hours, if it has one. */
  readonly sessionDurationHours?: number
}

export interface Narrowing {
  readonly field: string
  readonly from: unknown
  readonly to: unknown
  readonly rule: string
}

export interface LaunchGrant {
  readonly resources: Resources
  readonly network: Network
  readonly sessionDurationHours: number | null
  readonly dns: { readonly filter: boolean; readonly blocked: ReadonlyArray<string> }
  readonly sudo: boolean
  readonly linuxCapabilities: ReadonlyArray<string>
  /** What the policy changed, for the record and for the person launching. */
  readonly narrowed: ReadonlyArray<Narrowing>
}

const modeRank: Readonly<Record<NetworkMode, number>> = { none: 0, allowlist: 1, open: 2 }

/** `percent` % of `cores`, rounded down to thousandths (never more than the exact share, never 0). */
const shareOf = (cores: number, percent: number): number => {
  const rounded = Math.floor(cores * percent * 10) / 1000
  if (rounded > 0) return rounded
  const exact = (cores * percent) / 100
  return exact > 0 ? exact : cores
}

export const checkLaunch = (policy: EffectivePolicy, request: LaunchRequest): Either.Either<LaunchGrant, PolicyDenied> => {
  if (policy.runners !== null && !policy.runners.includes(request.runner)) {
    return Either.left(new PolicyDenied({
      policy: policy.name,
      rule: "resources.runners",
      reason: `runner ${request.runner} is not allowed (allowed: ${policy.runners.join(", ") || "none"})`
    }))
  }
  const narrowed: Array<Narrowing> = []
  const limit = (field: string, rule: string, requested: number | undefined, max: number | undefined): number | undefined => {
    if (max === undefined) return requested
    if (requested === undefined || requested > max) {
      narrowed.push({ field, from: requested ?? null, to: max, rule })
      return max
    }
    return requested
  }
  const { limits } = policy
  const cores = limit("resources.cpu_cores", "resources.limits.cpu_cores", request.resources.cpu_cores, limits.cpu_cores) ?? request.resources.cpu_cores
  const cpu_cores = limits.cpu_percent === undefined || limits.cpu_percent >= 100 ? cores : shareOf(cores, limits.cpu_percent)
  if (cpu_cores !== cores) narrowed.push({ field: "resources.cpu_cores", from: cores, to: cpu_cores, rule: "resources.limits.cpu_percent" })
  const memory_mb = limit("resources.memory_mb", "resources.limits.memory_mb", request.resources.memory_mb, limits.memory_mb) ?? request.resources.memory_mb
  const pids = limit("resources.pids", "resources.limits.process_count", request.resources.pids, limits.process_count) ?? request.resources.pids
  const disk_gb = limit("resources.disk_gb", "resources.limits.disk_gb", request.resources.disk_gb, limits.disk_gb)
  const file_handles = limit("resources.file_handles", "resources.limits.file_handles", request.resources.file_handles, limits.file_handles)
  const network_mbps = limit("resources.network_mbps", "resources.limits.network_mbps", request.resources.network_mbps, limits.network_mbps)
  const session = limit("session_duration_hours", "resources.limits.session_duration_hours", request.sessionDurationHours, limits.session_duration_hours)
  const network = narrowNetwork(policy, request.network)
  if (!sameNetwork(network, request.network)) narrowed.push({ field: "network", from: request.network, to: network, rule: "network" })
  return Either.right({
    resources: {
      cpu_cores,
      memory_mb,
      pids,
      ...(disk_gb === undefined ? {} : { disk_gb }),
      ...(file_handles === undefined ? {} : { file_handles }),
      ...(network_mbps === undefined ? {} : { network_mbps })
    },
    network,
    sessionDurationHours: session ?? null,
    dns: { filter: policy.network.dnsFilter, blocked: policy.network.dnsBlocked },
    sudo: policy.access.sudo,
    linuxCapabilities: policy.access.linuxCapabilities,
    narrowed
  })
}

/** The stricter mode of the two; under allowlist, only destinations both sides allow. */
export const narrowNetwork = (policy: EffectivePolicy, requested: Network): Network => {
  const mode = modeRank[requested.mode] <= modeRank[policy.network.mode] ? requested.mode : policy.network.mode
  if (mode !== "allowlist") return { mode }
  if (policy.network.mode === "open") return { mode, allowlist: requested.allowlist ?? [] }
  if (requested.mode === "open") return { mode, allowlist: policy.network.allowlist }
  const both = (requested.allowlist ?? []).flatMap((wanted) => policy.network.allowlist.flatMap((allowed) => intersect(wanted, allowed)))
  return { mode, allowlist: unique(both) }
}

/** Whether `entry` is within what `allowed` permits. */
export const allowlistCovers = (allowed: AllowlistEntry, entry: AllowlistEntry): boolean =>
  hostCovers(allowed.host, entry.host) && (allowed.port === undefined || allowed.port === entry.port)

const intersect = (a: AllowlistEntry, b: AllowlistEntry): ReadonlyArray<AllowlistEntry> => {
  if (a.port !== undefined && b.port !== undefined && a.port !== b.port) return []
  const port = a.port ?? b.port
  const host = hostCovers(b.host, a.host) ? a.host : hostCovers(a.host, b.host) ? b.host : undefined
  if (host === undefined) return []
  return [port === undefined ? { host } : { host, port }]
}

/** Host names compare case-insensitively; `*.x` covers its subdomains; an IPv4 block covers the addresses and blocks inside it. */
export const hostCovers = (pattern: string, host: string): boolean => {
  const p = pattern.toLowerCase()
  const h = host.toLowerCase()
  if (p === h) return true
  if (p.startsWith("*.")) return h.endsWith(p.slice(1)) && h.length > p.length - 1
  const block = ipv4Block(p)
  const inner = ipv4Block(h)
  return block !== undefined && inner !== undefined && inner.bits >= block.bits && (block.bits === 0 || (inner.base >>> (32 - block.bits)) === (block.base >>> (32 - block.bits)))
}

const ipv4Block = (text: string): { readonly base: number; readonly bits: number } | undefined => {
  const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)(?:\/(\d+))?$/.exec(text)
  if (match === null) return undefined
  const octets = match.slice(1, 5).map(Number)
  const base = octets.reduce((acc, octet) => ((acc << 8) | octet) >>> 0, 0)
  return { base, bits: match[5] === undefined ? 32 : Number(match[5]) }
}

const key = (entry: AllowlistEntry): string => `${entry.host.toLowerCase()}:${entry.port ?? "*"}`

const unique = (entries: ReadonlyArray<AllowlistEntry>): ReadonlyArray<AllowlistEntry> => {
  const seen = new Map<string, AllowlistEntry>()
  for (const entry of entries) if (!seen.has(key(entry))) seen.set(key(entry), entry)
  return [...seen.values()]
}

const sameNetwork = (a: Network, b: Network): boolean =>
  a.mode === b.mode && (a.allowlist ?? []).map(key).join(",") === (b.allowlist ?? []).map(key).join(",")
