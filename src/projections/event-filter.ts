// Which ledger records a reader asked for: by sandbox (name or id), by event type or group, by time,
// and by alert level. Pure, so `hydravisor monitor`, the TUI and reports select records the same way.
import { Data, Either } from "effect"
import type { LedgerRecord } from "../domain/ledger/record.js"

export const groups: Readonly<Record<string, ReadonlyArray<string>>> = {
  files: ["FileChanged"],
  processes: ["ProcessStarted", "ProcessExited"],
  network: ["ConnectionAttempted"],
  cpu: ["CpuUsed"],
  monitors: ["MonitorStarted", "MonitorStopped", "MonitorGap"],
  policy: ["PolicyApplied", "PolicyViolated", "PolicyActionTaken"],
  commands: ["CommandStarted", "CommandExecuted", "CommandFailed", "CommandRejected"],
  lifecycle: [
    "SandboxRequested", "SandboxProvisioned", "SandboxStarted", "SandboxPaused", "SandboxResumed",
    "SandboxStopped", "SandboxDestroyed", "SandboxFailed", "SandboxFoundDead", "ResourceLimitHit"
  ]
}

export const alertLevels = ["suspicious-activity", "low", "medium", "high", "critical"] as const
export type AlertLevel = (typeof alertLevels)[number]
const severityRank: Readonly<Record<string, number>> = { low: 1, medium: 2, high: 3, critical: 4 }

export class InvalidFilter extends Data.TaggedError("InvalidFilter")<{ readonly option: string; readonly value: string; readonly reason: string }> {
  override get message() {
    return `--${this.option} ${JSON.stringify(this.value)}: ${this.reason}`
  }
}

export interface EventFilter {
  /** A sandbox name or id; matched against the id, or the name the sandbox had when requested. */
  readonly sandbox: string | null
  readonly types: ReadonlySet<string> | null
  /** Epoch ms; records before it are left out. */
  readonly since: number | null
  readonly alertOn: AlertLevel | null
}

const UNITS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `--since`: an RFC 3339 time, or a duration back from `now` (`90s`, `10m`, `2h`, `7d`). */
export const parseSince = (text: string, now: number): Either.Either<number, InvalidFilter> => {
  const relative = /^(\d+(?:\.\d+)?)([smhd])$/.exec(text.trim())
  if (relative !== null) return Either.right(now - Number(relative[1]) * UNITS[relative[2]!]!)
  // A time needs its offset (else Date.parse takes it as local time); a bare date is UTC midnight.
  const at = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(text) ? Date.parse(text) : NaN
  return Number.isFinite(at)
    ? Either.right(at)
    : Either.left(new InvalidFilter({ option: "since", value: text, reason: "give an RFC 3339 time (2026-11-23T10:00:00Z) or a duration such as 30s, 10m, 2h, 7d" }))
}

/** `--type`: comma-separated event types or names of `groups`. */
export const parseTypes = (text: string, known: ReadonlyArray<string>): Either.Either<ReadonlySet<string>, InvalidFilter> => {
  const out = new Set<string>()
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p.length > 0)) {
    const group = groups[part]
    if (group !== undefined) group.forEach((t) => out.add(t))
    else if (known.includes(part)) out.add(part)
    else {
      return Either.left(new InvalidFilter({ option: "type", value: part, reason: `not an event type or group; groups: ${Object.keys(groups).join(", ")}; types: see docs/events.md` }))
    }
  }
  return out.size === 0 ? Either.left(new InvalidFilter({ option: "type", value: text, reason: "names no event type" })) : Either.right(out)
}

/** The sandbox a record is about: from its stream (`sandbox-<id>`, `observations-<id>`) or its payload. */
export const sandboxIdOf = (record: LedgerRecord): string | null => {
  const m = /^(?:sandbox|observations)-(.+)$/.exec(record.stream)
  if (m !== null) return m[1]!
  const id = record.data["sandboxId"]
  return typeof id === "string" ? id : null
}

/** Whether a record is an alert at `level`: policy violations of that severity or worse; suspicious activity adds refusals and gaps. */
export const isAlert = (record: LedgerRecord, level: AlertLevel): boolean => {
  if (record.type === "PolicyViolated") {
    const severity = severityRank[String(record.data["severity"])] ?? 4
    return level === "suspicious-activity" || severity >= severityRank[level]!
  }
  if (level !== "suspicious-activity") return false
  if (record.type === "ConnectionAttempted") return record.data["decision"] === "denied"
  return record.type === "AccessDenied" || record.type === "CommandRejected" || record.type === "MonitorGap" || record.type === "ResourceLimitHit"
}

export const matches = (filter: EventFilter, record: LedgerRecord, nameOf: (sandboxId: string) => string | undefined): boolean => {
  if (filter.types !== null && !filter.types.has(record.type)) return false
  if (filter.since !== null && Date.parse(record.at) < filter.since) return false
  if (filter.alertOn !== null && !isAlert(record, filter.alertOn)) return false
  if (filter.sandbox !== null) {
    const id = sandboxIdOf(record)
    if (id === null) return false
    if (id !== filter.sandbox && nameOf(id) !== filter.sandbox) return false
  }
  return true
}
