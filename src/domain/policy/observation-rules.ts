// Which policy rules an observation breaks: a blocked program that ran anyway, a denied connection or
// DNS lookup, a quota gone over. Pure: the enforcement engine feeds it decoded observations and the
// sandbox's usage so far, and records what it returns as PolicyViolated.
import { Either } from "effect"
import { checkCommand } from "./check-command.js"
import type { RuleKind } from "./policy-document.js"
import { exceededQuotas, type UsageSample } from "./quotas.js"
import type { EffectivePolicy } from "./resolve.js"

/** An observation as the engine sees it: its record id and time, type and decoded payload. */
export interface Observation {
  readonly id: string
  readonly at: string
  readonly type: string
  readonly data: Readonly<Record<string, unknown>>
}

export interface Finding {
  readonly kind: RuleKind
  readonly rule: string
  readonly detail: string
  readonly evidence: ReadonlyArray<string>
  /** The host pid the rule was broken by, where one is known (for `kill-process`). */
  readonly pid: number | null
  /** For a quota: `<quota>@<period>`, reported once per period. */
  readonly once: string | null
}

/** What an observation adds to a sandbox's quota usage; null when it uses none. */
export const usageOf = (observation: Observation): UsageSample | null => {
  const { type, data, at } = observation
  if (type === "ConnectionAttempted") {
    const bytes = (typeof data["bytesSent"] === "number" ? data["bytesSent"] : 0) + (typeof data["bytesReceived"] === "number" ? data["bytesReceived"] : 0)
    return bytes > 0 ? { at, cpuSeconds: 0, networkBytes: bytes, diskWriteBytes: 0 } : null
  }
  if (type === "FileChanged" && data["change"] !== "deleted" && typeof data["size"] === "number" && data["size"] > 0) {
    return { at, cpuSeconds: 0, networkBytes: 0, diskWriteBytes: data["size"] }
  }
  if (type === "CpuUsed" && typeof data["seconds"] === "number" && data["seconds"] > 0) {
    return { at, cpuSeconds: data["seconds"], networkBytes: 0, diskWriteBytes: 0 }
  }
  return null
}

/** Denials that are not the policy saying no: an allowed name with no address, a query type never answered. */
const notPolicy: ReadonlySet<string> = new Set(["name not resolved", "unsupported query"])

const argvOf = (data: Readonly<Record<string, unknown>>): ReadonlyArray<string> | null =>
  Array.isArray(data["argv"]) && data["argv"].every((a) => typeof a === "string") ? (data["argv"] as ReadonlyArray<string>) : null

const pidOf = (data: Readonly<Record<string, unknown>>): number | null => (typeof data["pid"] === "number" ? data["pid"] : null)

/**
 * The rules `observation` breaks under `policy`. `usage` is the sandbox's quota usage before it;
 * `reported` holds the quota periods already reported (a quota is reported once per period).
 */
export const findViolations = (
  policy: EffectivePolicy,
  observation: Observation,
  usage: ReadonlyArray<UsageSample>,
  reported: ReadonlySet<string>
): ReadonlyArray<Finding> => {
  const found: Array<Finding> = []
  const { type, data, id } = observation
  if (type === "ProcessStarted") {
    const argv = argvOf(data)
    if (argv !== null) {
      const checked = checkCommand(policy, argv)
      if (Either.isLeft(checked)) {
        found.push({ kind: "command", rule: checked.left.rule, detail: `ran anyway: ${argv.join(" ")} (${checked.left.reason})`, evidence: [id], pid: pidOf(data), once: null })
      }
    }
  }
  if (type === "ConnectionAttempted" && data["decision"] === "denied" && !notPolicy.has(String(data["rule"]))) {
    const dns = data["protocol"] === "dns"
    const target = `${String(data["host"] ?? data["address"] ?? "?")}${typeof data["port"] === "number" ? `:${data["port"]}` : ""}`
    found.push({
      kind: dns ? "dns" : "network",
      rule: typeof data["rule"] === "string" ? `network: ${data["rule"]}` : dns ? "network.dns" : "network.mode",
      detail: `${dns ? "DNS lookup of" : `${String(data["protocol"])} connection to`} ${target} denied: ${String(data["reason"] ?? "")}`,
      evidence: [id],
      pid: pidOf(data),
      once: null
    })
  }
  const added = usageOf(observation)
  if (added !== null) {
    for (const over of exceededQuotas(policy.quotas, [...usage, added])) {
      const key = `${over.quota}@${over.period}`
      if (reported.has(key)) continue
      found.push({
        kind: "quota",
        rule: over.rule,
        detail: `${over.quota} over in ${over.period}: ${over.used.toFixed(3)} of ${over.limit} ${over.unit}`,
        evidence: [id],
        pid: null,
        once: key
      })
    }
  }
  return found
}
