// What the proxy and the DNS filter share: the policy, a resolver that only asks the system for names
// the policy admits, where observations go, and the sandbox's bandwidth buckets.
import * as dns from "node:dns"
import * as os from "node:os"
import type { Schema } from "effect"
import type { ConnectionAttempted } from "../../../domain/monitors/monitor-events.js"
import { parseIp } from "./address.js"
import type { IpAddress } from "./address.js"
import { makeBandwidth } from "./bandwidth.js"
import type { Bandwidth } from "./bandwidth.js"
import { compilePolicy, decideName, normalizeName } from "./egress-policy.js"
import type { EgressPolicy } from "./egress-policy.js"
import type { Network } from "../../../domain/sandbox/template.js"

export type ConnectionObservation = Schema.Schema.Type<typeof ConnectionAttempted.schema>

export interface EgressContext {
  readonly sandboxId: string
  /** The policy with the host's current addresses (re-read at most once a second). */
  readonly policy: () => EgressPolicy
  /** Addresses for a name: the static hosts map first, the system resolver only for names the policy admits. */
  readonly resolve: (name: string) => Promise<ReadonlyArray<IpAddress>>
  readonly record: (observation: ConnectionObservation) => void
  readonly connectTimeoutMs: number
  /** The sandbox's `network_mbps`, each way, over all its proxied connections; null: no limit. */
  readonly bandwidth: Bandwidth | null
}

/** Every address of every interface of this host. */
export const hostAddresses = (): ReadonlyArray<string> =>
  Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((entry) => entry.address.replace(/%.*$/, "")))

export const makeEgressContext = (options: {
  readonly sandboxId: string
  readonly network: Network
  readonly hosts: Readonly<Record<string, ReadonlyArray<string>>>
  readonly record: (observation: ConnectionObservation) => void
  readonly connectTimeoutMs?: number
  readonly networkMbps?: number | null
}): EgressContext => {
  const hosts = new Map<string, ReadonlyArray<IpAddress>>()
  for (const [name, addresses] of Object.entries(options.hosts)) {
    const key = normalizeName(name)
    if (key !== null) hosts.set(key, addresses.flatMap((a) => parseIp(a) ?? []))
  }
  let cached: { readonly at: number; readonly policy: EgressPolicy } | null = null
  const policy = (): EgressPolicy => {
    const now = Date.now()
    if (cached === null || now - cached.at > 1000) cached = { at: now, policy: compilePolicy(options.network, hostAddresses()) }
    return cached.policy
  }
  const resolve = async (raw: string): Promise<ReadonlyArray<IpAddress>> => {
    const name = normalizeName(raw)
    if (name === null) return []
    const pinned = hosts.get(name)
    if (pinned !== undefined) return pinned
    if (!decideName(policy(), name).allowed) return []
    try {
      const found = await dns.promises.lookup(name, { all: true, verbatim: true })
      return found.flatMap((entry) => parseIp(entry.address) ?? [])
    } catch {
      return []
    }
  }
  return {
    sandboxId: options.sandboxId,
    policy,
    resolve,
    record: options.record,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    bandwidth: options.networkMbps === undefined || options.networkMbps === null ? null : makeBandwidth(options.networkMbps)
  }
}
