// The egress decision, pure: may this sandbox reach this address and port, asked for under this name?
// The decision is always on the resolved address (the proxy then connects to exactly that address),
// and a name entry never admits a host-local address (loopback, link-local, metadata, this host's own):
// only an entry naming that address or its block does.
import type { AllowlistEntry, Network, NetworkMode } from "../../../domain/sandbox/template.js"
import { formatIp, hostLocalKind, inCidr, parseCidr, parseIp } from "./address.js"
import type { Cidr, IpAddress } from "./address.js"

export type PolicyEntry =
  | { readonly kind: "block"; readonly label: string; readonly port: number | null; readonly cidr: Cidr }
  | { readonly kind: "name"; readonly label: string; readonly port: number | null; readonly name: string; readonly wildcard: boolean }

export interface EgressPolicy {
  readonly mode: NetworkMode
  readonly entries: ReadonlyArray<PolicyEntry>
  /** The host's own addresses: never reachable through a name. */
  readonly hostAddresses: ReadonlyArray<IpAddress>
}

export interface Decision {
  readonly allowed: boolean
  /** The entry or rule that decided. */
  readonly rule: string
  readonly reason: string
}

const NAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/

/** Lower case without the root dot, or null when it is not a DNS host name. */
export const normalizeName = (name: string): string | null => {
  const lower = name.toLowerCase().replace(/\.$/, "")
  return NAME.test(lower) ? lower : null
}

const entryLabel = (entry: AllowlistEntry): string => (entry.port === undefined ? entry.host : `${entry.host}:${entry.port}`)

export const compileEntry = (entry: AllowlistEntry): PolicyEntry | null => {
  const label = entryLabel(entry)
  const port = entry.port ?? null
  const cidr = parseCidr(entry.host)
  if (cidr !== null) return { kind: "block", label, port, cidr }
  const wildcard = entry.host.startsWith("*.")
  const name = normalizeName(wildcard ? entry.host.slice(2) : entry.host)
  return name === null ? null : { kind: "name", label, port, name, wildcard }
}

/** Entries that are neither an address, a block nor a host name are dropped (the template Schema rejects them first). */
export const compilePolicy = (network: Network, hostAddresses: ReadonlyArray<string>): EgressPolicy => ({
  mode: network.mode,
  entries: network.mode === "allowlist" ? (network.allowlist ?? []).flatMap((entry) => compileEntry(entry) ?? []) : [],
  hostAddresses: hostAddresses.flatMap((text) => parseIp(text) ?? [])
})

/** `*.example.org` covers every name below example.org, not example.org itself. */
export const nameMatches = (entry: { readonly name: string; readonly wildcard: boolean }, name: string): boolean =>
  entry.wildcard ? name.endsWith(`.${entry.name}`) : name === entry.name

const portMatches = (entry: PolicyEntry, port: number | null): boolean => entry.port === null || port === null || entry.port === port

/** May the name be looked up at all? Denied names are never sent to a resolver (no exfiltration through DNS). */
export const decideName = (policy: EgressPolicy, rawName: string): Decision => {
  const name = normalizeName(rawName)
  if (policy.mode === "none") return { allowed: false, rule: "mode none", reason: "the sandbox has no network access" }
  if (name === null) return { allowed: false, rule: "invalid name", reason: `${JSON.stringify(rawName)} is not a host name` }
  if (policy.mode === "open") return { allowed: true, rule: "mode open", reason: "open mode allows and records every connection" }
  const entry = policy.entries.find((e) => e.kind === "name" && nameMatches(e, name))
  return entry === undefined
    ? { allowed: false, rule: "not in allowlist", reason: `no allowlist entry names ${name}` }
    : { allowed: true, rule: entry.label, reason: `${name} matches allowlist entry ${entry.label}` }
}

export interface ConnectionRequest {
  /** The name the sandbox asked for, or null when it gave an address. */
  readonly name: string | null
  readonly address: IpAddress
  /** null for a DNS answer, which is not tied to a port. */
  readonly port: number | null
}

export const decideConnection = (policy: EgressPolicy, request: ConnectionRequest): Decision => {
  const address = formatIp(request.address)
  const where = request.port === null ? address : `${address} port ${request.port}`
  if (policy.mode === "none") return { allowed: false, rule: "mode none", reason: "the sandbox has no network access" }
  const block = policy.entries.find((e) => e.kind === "block" && inCidr(e.cidr, request.address) && portMatches(e, request.port))
  if (block !== undefined) return { allowed: true, rule: block.label, reason: `${where} is listed by allowlist entry ${block.label}` }
  const local = hostLocalKind(request.address, policy.hostAddresses)
  if (local !== null) {
    return {
      allowed: false,
      rule: "host-local address",
      reason: `${address}${request.name === null ? "" : ` (from ${request.name})`} is ${local === "this host" ? "an address of this host" : `a ${local} address`}; only an allowlist entry naming that address admits it`
    }
  }
  if (policy.mode === "open") return { allowed: true, rule: "mode open", reason: "open mode allows and records every connection" }
  const name = request.name === null ? null : normalizeName(request.name)
  const entry =
    name === null ? undefined : policy.entries.find((e) => e.kind === "name" && nameMatches(e, name) && portMatches(e, request.port))
  if (entry !== undefined) return { allowed: true, rule: entry.label, reason: `${name} matches allowlist entry ${entry.label}` }
  return {
    allowed: false,
    rule: "not in allowlist",
    reason: `no allowlist entry covers ${name === null ? where : `${name} (${where})`}`
  }
}
