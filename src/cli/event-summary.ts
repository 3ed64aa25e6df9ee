// One line per ledger record for people: what happened, in the words of its event type. Sealed
// fields show their value while sealed and "[redacted]" once redacted.
import { unsealData, isRedacted } from "../domain/events/redactable.js"
import type { LedgerRecord } from "../domain/ledger/record.js"

const show = (value: unknown): string =>
  value === null || value === undefined ? "-" : isRedacted(value) ? "[redacted]" : Array.isArray(value) ? value.map(String).join(" ") : typeof value === "object" ? JSON.stringify(value) : String(value)

/** An argv as a shell would take it back: words with spaces or shell characters single-quoted. */
const argv = (value: unknown): string =>
  Array.isArray(value) ? value.map((w) => (/^[\w@%+=:,./-]+$/.test(String(w)) ? String(w) : `'${String(w).replace(/'/g, "'\\''")}'`)).join(" ") : show(value)

const ms = (n: unknown) => (typeof n === "number" ? `${Math.round(n * 10) / 10} ms` : "-")

const bytes = (n: unknown) => (typeof n === "number" ? (n >= 1024 * 1024 ? `${(n / 1048576).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`) : "-")

export const summarize = (record: LedgerRecord): string => {
  const d = unsealData(record.data)
  switch (record.type) {
    case "FileChanged":
      return `${show(d["change"])} ${show(d["path"])}${d["previousPath"] ? ` (from ${show(d["previousPath"])})` : ""}, ${bytes(d["size"])}, ${show(d["writes"])} write(s)`
    case "ProcessStarted":
      return `pid ${show(d["pid"])} (parent ${show(d["ppid"])}, uid ${show(d["uid"])}): ${argv(d["argv"])}`
    case "ProcessExited":
      return `pid ${show(d["pid"])} exited ${d["signal"] !== null && d["signal"] !== undefined ? `by signal ${show(d["signal"])}` : `with ${show(d["exitCode"])}`} after ${ms(d["durationMs"])}`
    case "CpuUsed":
      return `${typeof d["seconds"] === "number" ? d["seconds"].toFixed(3) : "-"} s of CPU from ${show(d["from"])} to ${show(d["to"])}`
    case "ConnectionAttempted":
      return `${String(d["decision"]).toUpperCase()} ${show(d["protocol"])} ${d["host"] ? show(d["host"]) : show(d["address"])}${d["port"] !== null && d["port"] !== undefined ? `:${show(d["port"])}` : ""} via ${show(d["via"])} (${show(d["reason"])})`
    case "MonitorGap":
      return `${show(d["monitor"])} monitor gap: ${show(d["reason"])}${d["lost"] !== null ? ` (${show(d["lost"])} lost)` : ""}`
    case "MonitorStarted":
      return `${show(d["monitor"])} monitor started (${show(d["mechanism"])})`
    case "MonitorStopped":
      return `${show(d["monitor"])} monitor stopped after ${show(d["observed"])} observation(s)`
    case "PolicyViolated":
      return `[${String(d["severity"]).toUpperCase()}] ${show(d["rule"])}: ${show(d["detail"])} → ${show(d["action"])}`
    case "PolicyActionTaken":
      return `${show(d["action"])}: ${show(d["outcome"])}`
    case "CommandStarted":
      return `$ ${argv(d["argv"])}`
    case "CommandExecuted":
      return `${argv(d["argv"])} → ${d["exitCode"] === null && d["signal"] !== null && d["signal"] !== undefined ? `signal ${show(d["signal"])}` : `exit ${show(d["exitCode"])}`}${d["timedOut"] === true ? " (timed out)" : ""} in ${ms(d["durationMs"])}`
    case "CommandRejected":
      return `${show(d["command"])} refused: ${show(d["reason"])}`
    case "SandboxRequested":
      return `${show(d["name"])} requested (template ${show((d["template"] as { name?: string } | undefined)?.name)}, policy ${show(d["policy"])})`
    case "SandboxProvisioned":
    case "SandboxStarted": {
      const handle = isRedacted(d["handle"]) ? null : (d["handle"] as { runner?: string; pid?: number | null } | undefined)
      return handle === null ? "handle [redacted]" : `runner ${show(handle?.runner)}, pid ${show(handle?.pid)}`
    }
    case "SandboxStopped":
      return `stopped: ${show(d["reason"])}`
    default: {
      const text = JSON.stringify(d)
      return text.length > 160 ? `${text.slice(0, 157)}...` : text
    }
  }
}
