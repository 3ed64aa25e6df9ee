// The fallback when bpftrace cannot run: every interval, list the processes in the sandbox's cgroup
// tree, keep those in its pid namespace, and compare with the previous listing. It sees a process only
// if it lives across a poll, cannot tell exit codes, and dates a start by the kernel's start time
// (10 ms ticks). Processes already running at the first poll are taken as known, not recorded,
// like the bpftrace tracer which only sees execs after it attached.
import * as fs from "node:fs"
import * as path from "node:path"
import type { NewEvent } from "../../../domain/ledger/event-definition.js"
import { ProcessExited, ProcessStarted } from "../../../domain/monitors/monitor-events.js"
import type { TrackerClock } from "./process-tracker.js"

/** USER_HZ: /proc/<pid>/stat start times are in these ticks on every Linux architecture we run on. */
const TICKS_PER_SECOND = 100

interface Seen {
  readonly key: string
  readonly cmdline: string
  readonly startedNs: number
  /** Recorded with ProcessStarted (false for what ran before the first poll): only those get ProcessExited. */
  readonly announced: boolean
}

const readOr = <A>(read: () => A, fallback: A): A => {
  try {
    return read()
  } catch {
    return fallback
  }
}

/** pid → cgroup id (the inode of the cgroup directory listing it), over the whole subtree. */
const cgroupMembers = (root: string): Map<number, string> => {
  const members = new Map<number, string>()
  const walk = (dir: string) => {
    const id = readOr(() => String(fs.statSync(dir).ino), null)
    if (id === null) return
    for (const line of readOr(() => fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8"), "").split("\n")) {
      const pid = Number(line)
      if (line !== "" && Number.isSafeInteger(pid)) members.set(pid, id)
    }
    for (const entry of readOr(() => fs.readdirSync(dir, { withFileTypes: true }), [])) if (entry.isDirectory()) walk(path.join(dir, entry.name))
  }
  walk(root)
  return members
}

const namespaceOf = (pid: number | string): number | null => {
  const link = readOr(() => fs.readlinkSync(`/proc/${pid}/ns/pid`), "")
  const m = /^pid:\[(\d+)\]$/.exec(link)
  return m === null ? null : Number(m[1])
}

export { namespaceOf as pidNamespaceOf }

const statusField = (status: string, name: string): ReadonlyArray<string> =>
  (new RegExp(`^${name}:\\s*(.*)$`, "m").exec(status)?.[1] ?? "").trim().split(/\s+/)

export interface ProcPoller {
  /** One comparison with the previous listing; the first call only takes note. */
  readonly poll: (nowNs: number) => ReadonlyArray<NewEvent>
}

export const makeProcPoller = (sandboxId: string, cgroup: string, namespace: number, clock: TrackerClock): ProcPoller => {
  let known = new Map<number, Seen>()
  let first = true

  const inspect = (pid: number, cgroupId: string, nowNs: number, previous: Seen | undefined): { seen: Seen; event: NewEvent | null } | null => {
    if (namespaceOf(pid) !== namespace) return null
    const stat = readOr(() => fs.readFileSync(`/proc/${pid}/stat`, "utf8"), null)
    const cmdline = readOr(() => fs.readFileSync(`/proc/${pid}/cmdline`, "latin1"), null)
    const status = readOr(() => fs.readFileSync(`/proc/${pid}/status`, "utf8"), null)
    if (stat === null || cmdline === null || status === null) return null
    // Fields after the command name, which is in parentheses and may itself hold spaces or ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const ppid = Number(fields[1])
    const startTicks = Number(fields[19])
    const key = `${pid}:${startTicks}`
    if (previous !== undefined && previous.key === key && previous.cmdline === cmdline) return { seen: previous, event: null }
    const startedNs = previous?.key === key ? nowNs : (startTicks / TICKS_PER_SECOND) * 1e9
    const seen = { key, cmdline, startedNs, announced: !first }
    const bytes = Buffer.from(cmdline, "latin1")
    const argv = bytes.length === 0 ? [] : bytes.subarray(0, bytes[bytes.length - 1] === 0 ? -1 : undefined).toString("utf8").split("\0")
    const nsPids = statusField(status, "NSpid")
    const event: NewEvent = {
      type: ProcessStarted.type,
      data: {
        sandboxId, pid, nsPid: Number(nsPids[nsPids.length - 1]), ppid, argv,
        cwd: readOr(() => fs.readlinkSync(`/proc/${pid}/cwd`), null),
        uid: Number(statusField(status, "Uid")[0]), startedAt: clock.iso(startedNs), cgroupId
      }
    }
    return { seen, event: first ? null : event }
  }

  return {
    poll: (nowNs) => {
      const events: Array<NewEvent> = []
      const next = new Map<number, Seen>()
      for (const [pid, cgroupId] of cgroupMembers(cgroup)) {
        const previous = known.get(pid)
        const found = inspect(pid, cgroupId, nowNs, previous)
        if (found === null) continue
        if (previous?.announced === true && previous.key !== found.seen.key) events.push(ended(previous, pid, nowNs))
        next.set(pid, found.seen)
        if (found.event !== null) events.push(found.event)
      }
      for (const [pid, seen] of known) if (seen.announced && !next.has(pid)) events.push(ended(seen, pid, nowNs))
      known = next
      first = false
      return events
    }
  }

  function ended(seen: Seen, pid: number, nowNs: number): NewEvent {
    return {
      type: ProcessExited.type,
      data: { sandboxId, pid, exitCode: null, signal: null, durationMs: Math.max(0, nowNs - seen.startedNs) / 1e6 }
    }
  }
}
