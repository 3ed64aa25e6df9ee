// One line per ledger record for people: what happened, in the words of its event type. Sealed
// fields show their value while sealed and "[redacted]" once redacted.
import { unsealData, isRedacted } from "../domain/events/redactable.js"
import type { LedgerRecord } from "../domain/ledger/record.js"

const show = (value: unknown): string =>
  value === null || value === undefined ? "-" : isRedacted(value) ? "[redacted]" : Array.isArray(value) ? value.map(String).join(" ") : typeof value === "object" ? JSON.stringify(value) : String(value)

const bytes = (n: unknown) => (typeof n === "number" ? (n >= 1024 * 1024 ? `${(n / 1048576).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`) : "-")

export const summarize = (record: LedgerRecord): string => {
  const d = unsealData(record.data)
  switch (record.type) {
    case "FileChanged":
      return `${show(d["change"])} ${show(d["path"])}${d["previousPath"] ? ` (from ${show(d["previousPath"])})` : ""}, ${bytes(d["size"])}, ${show(d["writes"])} write(s)`
    case "ProcessStarted":
      return `pid ${show(d["pid"])} (parent ${show(d["ppid"])}, uid ${show(d["uid"])}): ${show(d["argv"])}`
    case "ProcessExited":
      return `pid ${show(d["pid"])} exited ${d["signal"] !== null && d["signal"] !== undefined ? `by signal ${show(d["signal"])}` : `with ${show(d["exitCode"])}`} after ${show(d["durationMs"])} ms`
    case "ConnectionAttempted":
      return `${String(d["decision"]).toUpperCase()} ${show(d["protocol"])} ${d["host"] ? show(d["host"]) : show(d["address"])}${d["port"] !== null ? `:${show(d["port"])}` : ""} via ${show(d["via"])} (${show(d["reason"])})`
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
      return `$ ${show(d["argv"])}`
    case "CommandExecuted":
      return `${show(d["argv"])} → exit ${show(d["exitCode"])} in ${show(d["durationMs"])} ms`
    case "CommandRejected":
      return `${show(d["command"])} refused: ${show(d["reason"])}`
    case "SandboxRequested":
      return `${show(d["name"])} requested (template ${show((d["template"] as { name?: string } | undefined)?.name)}, policy ${show(d["policy"])})`
    case "SandboxStopped":
      return `stopped: ${show(d["reason"])}`
    default: {
      const text = JSON.stringify(d)
      return text.length > 160 ? `${text.slice(0, 157)}...` : text
    }
  }
}
