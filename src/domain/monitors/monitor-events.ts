// What the monitors observe inside a sandbox, as ledger facts: file changes, processes, connection
// attempts, CPU time used, and the monitors' own coverage (started, stopped, gaps). Observations go
// to the stream `observations-<sandboxId>`, apart from the sandbox's own stream, so that monitors
// never race the sandbox service's expected revisions. A monitor that may have missed something says
// so with `MonitorGap`: the audit never claims completeness it does not have.
import { Schema } from "effect"
import { defineEvent } from "../ledger/event-definition.js"
import { NonNegativeInt, Sha256Hex } from "../ledger/record.js"
import { Redactable } from "../events/redactable.js"
import { BlobRef, SandboxId } from "../sandbox/sandbox-events.js"

/** RFC 3339 UTC as `Date.prototype.toISOString` writes it (milliseconds) or with microseconds. */
export const ObservedAt = Schema.String.pipe(
  Schema.pattern(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(\d{3})?Z$/),
  Schema.annotations({ identifier: "ObservedAt", description: "RFC 3339 UTC time with milliseconds" })
)
const Timestamp = ObservedAt

export const observationStream = (sandboxId: string): string => `observations-${sandboxId}`

export const MonitorKind = Schema.Literal("files", "processes", "network", "cpu")
export type MonitorKind = Schema.Schema.Type<typeof MonitorKind>

export const MonitorStarted = defineEvent(
  "MonitorStarted",
  Schema.Struct({
    sandboxId: SandboxId,
    monitor: MonitorKind,
    /** e.g. "inotify (chokidar)", "bpftrace: tracepoint syscalls:sys_enter_execve", "poll /proc every 100 ms". */
    mechanism: Schema.String,
    /** What this mechanism cannot see; empty when it sees everything it is meant to. */
    blindSpots: Schema.Array(Schema.String)
  }),
  { description: "A monitor began watching a sandbox; from here its observations cover the sandbox, minus its blind spots." }
)

export const MonitorStopped = defineEvent(
  "MonitorStopped",
  Schema.Struct({ sandboxId: SandboxId, monitor: MonitorKind, reason: Schema.String, observed: NonNegativeInt }),
  { description: "A monitor stopped watching a sandbox (the sandbox stopped, or the daemon shut down)." }
)

export const MonitorGap = defineEvent(
  "MonitorGap",
  Schema.Struct({
    sandboxId: SandboxId,
    monitor: MonitorKind,
    /** What happened: "inotify queue overflow", "bpftrace lost 12 events", "monitor restarted", … */
    reason: Schema.String,
    /** How many observations are known lost; null when the monitor cannot tell. */
    lost: Schema.NullOr(NonNegativeInt),
    /** The window the gap covers (RFC 3339); `to` null while it is still open. */
    from: Timestamp,
    to: Schema.NullOr(Timestamp)
  }),
  { description: "A monitor dropped or may have missed observations: what, how many and when." }
)

export const FileChange = Schema.Literal("created", "modified", "deleted", "renamed", "mode")
export type FileChange = Schema.Schema.Type<typeof FileChange>

export const FileChanged = defineEvent(
  "FileChanged",
  Schema.Struct({
    sandboxId: SandboxId,
    /** Relative to the workspace, '/'-separated. */
    path: Schema.String,
    change: FileChange,
    /** For `renamed`: where it was; else null. */
    previousPath: Schema.NullOr(Schema.String),
    /** After the change; null when deleted. */
    size: Schema.NullOr(NonNegativeInt),
    sha256: Schema.NullOr(Sha256Hex),
    /** Permission bits after the change (e.g. 0o644 = 420); null when deleted. */
    mode: Schema.NullOr(NonNegativeInt),
    /** Unified diff against the previous recorded content, stored content-addressed; null for binary or large files. */
    diff: Schema.NullOr(BlobRef),
    /** Raw change notifications coalesced into this event (≥ 1). */
    writes: Schema.Int.pipe(Schema.positive()),
    firstAt: Timestamp,
    lastAt: Timestamp,
    /** Host pid of the writer where it can be known, else null. */
    pid: Schema.NullOr(Schema.Int)
  }),
  { description: "A file in a sandbox's workspace was created, modified, deleted, renamed or changed mode (bursts coalesced)." }
)

export const ProcessStarted = defineEvent(
  "ProcessStarted",
  Schema.Struct({
    sandboxId: SandboxId,
    /** Host pid, and the pid as the sandbox sees it where known. */
    pid: Schema.Int,
    nsPid: Schema.NullOr(Schema.Int),
    ppid: Schema.Int,
    argv: Redactable(Schema.Array(Schema.String)),
    cwd: Schema.NullOr(Schema.String),
    uid: Schema.Int,
    startedAt: Timestamp,
    /** The cgroup v2 id of the process when it exec'd, as a decimal string. */
    cgroupId: Schema.NullOr(Schema.String)
  }),
  { description: "A program was exec'd inside a sandbox.", sensitive: ["argv"] }
)

export const ProcessExited = defineEvent(
  "ProcessExited",
  Schema.Struct({
    sandboxId: SandboxId,
    pid: Schema.Int,
    /** null when ended by a signal. */
    exitCode: Schema.NullOr(Schema.Int),
    signal: Schema.NullOr(Schema.Int),
    durationMs: Schema.Number
  }),
  { description: "A process seen by ProcessStarted ended." }
)

export const NetworkProtocol = Schema.Literal("tcp", "udp", "http", "https-connect", "dns", "unix", "other")

export const ConnectionAttempted = defineEvent(
  "ConnectionAttempted",
  Schema.Struct({
    sandboxId: SandboxId,
    protocol: NetworkProtocol,
    /** The name asked for (proxy or DNS), null for a raw connection to an address. */
    host: Schema.NullOr(Schema.String),
    address: Schema.NullOr(Schema.String),
    port: Schema.NullOr(Schema.Int),
    decision: Schema.Literal("allowed", "denied"),
    /** The allowlist entry or rule that decided, or a short name ("mode none", "not in allowlist"). */
    rule: Schema.NullOr(Schema.String),
    reason: Schema.String,
    /** Where it was seen: the egress proxy, the DNS filter, or a traced connect() syscall. */
    via: Schema.Literal("proxy", "dns", "syscall"),
    bytesSent: Schema.NullOr(NonNegativeInt),
    bytesReceived: Schema.NullOr(NonNegativeInt),
    pid: Schema.NullOr(Schema.Int)
  }),
  { description: "A process in a sandbox tried to reach the network: where, allowed or denied and why, bytes moved." }
)

export const CpuUsed = defineEvent(
  "CpuUsed",
  Schema.Struct({
    sandboxId: SandboxId,
    /** CPU time (user + system) every process of the sandbox used in the window, in seconds. */
    seconds: Schema.Number.pipe(Schema.nonNegative()),
    /** The window (RFC 3339): from the reading the previous CpuUsed ended at (or the start) to this one. */
    from: Timestamp,
    to: Timestamp
  }),
  { description: "CPU time a sandbox's processes used in a window, read from its cgroup; what `daily_cpu_hours` counts." }
)

export const monitorEvents = [MonitorStarted, MonitorStopped, MonitorGap, FileChanged, ProcessStarted, ProcessExited, ConnectionAttempted, CpuUsed] as const
