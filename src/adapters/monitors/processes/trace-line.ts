// Strict parsing of the lines the process tracer prints (formats in trace-script.ts). A line that
// does not match exactly is a `TraceLineMalformed` value, never an exception: the tracer counts it
// and reports a gap, since it may have been an observation.
import { Data, Either } from "effect"

/** The pid namespace (inode number) and pid of a task at nesting levels 1..3; 0/0 past its level. */
export interface NamespacedPid {
  readonly namespace: number
  readonly pid: number
}

export type TraceLine =
  | { readonly kind: "ready" }
  | { readonly kind: "sync"; readonly id: number }
  | {
      readonly kind: "exec"
      /** CLOCK_MONOTONIC nanoseconds. */
      readonly ts: number
      readonly pid: number
      readonly ppid: number
      readonly uid: number
      readonly level: number
      readonly levels: ReadonlyArray<NamespacedPid>
      readonly cgroupId: string
      /** The new program's mm_struct address: with pid, names the exec its argv chunks belong to. */
      readonly mm: string
      readonly argLength: number
    }
  | { readonly kind: "argv"; readonly pid: number; readonly mm: string; readonly offset: number; readonly bytes: Uint8Array }
  | {
      readonly kind: "exit"
      readonly ts: number
      readonly pid: number
      readonly level: number
      readonly namespaces: ReadonlyArray<number>
      /** The kernel's wait status: (code << 8) for exit(code), the signal number (| 0x80 with core) otherwise. */
      readonly status: number
    }
  | { readonly kind: "lost"; readonly count: number }
  | { readonly kind: "notice"; readonly text: string }

export class TraceLineMalformed extends Data.TaggedError("TraceLineMalformed")<{ readonly line: string; readonly reason: string }> {
  override get message() {
    return `unreadable bpftrace line (${this.reason}): ${JSON.stringify(this.line.slice(0, 200))}`
  }
}

const U = "(0|[1-9]\\d*)"
const I = "(-?(?:0|[1-9]\\d*))"
const EXEC = new RegExp(`^E ${U} ${U} ${U} ${U} ${U} ${U} ${I} ${U} ${I} ${U} ${I} ${U} ${U} ${U}$`)
const ARGV = new RegExp(`^A ${U} ${U} ${U} ((?:\\\\x[0-9a-fA-F]{2})*)$`)
const EXIT = new RegExp(`^X ${U} ${U} ${U} ${U} ${U} ${U} ${I}$`)
const LOST = /^Lost (0|[1-9]\d*) events$/
const SYNC = new RegExp(`^S ${U}$`)
const NOTICE = /^Attaching \d+ probes?\.\.\.$/

const U32 = 0xffffffff
const PID_MAX = 1 << 22

const fail = (line: string, reason: string) => Either.left(new TraceLineMalformed({ line, reason }))

/** A decimal that must be an exact integer within [min, max]. */
const int = (text: string, min: number, max: number): number | null => {
  const n = Number(text)
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : null
}

const u64 = (text: string): string | null => (text.length <= 20 && BigInt(text) < 2n ** 64n ? text : null)

export const hexBytes = (escaped: string): Uint8Array => {
  const bytes = new Uint8Array(escaped.length / 4)
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(escaped.slice(i * 4 + 2, i * 4 + 4), 16)
  return bytes
}

export const parseTraceLine = (line: string): Either.Either<TraceLine, TraceLineMalformed> => {
  if (line === "R") return Either.right({ kind: "ready" })
  let m = EXEC.exec(line)
  if (m !== null) {
    const [, ts, pid, ppid, uid, level, ns1, nr1, ns2, nr2, ns3, nr3, cgroup, mm, len] = m as unknown as ReadonlyArray<string>
    const nums = {
      ts: int(ts!, 0, Number.MAX_SAFE_INTEGER), pid: int(pid!, 1, PID_MAX), ppid: int(ppid!, 0, PID_MAX), uid: int(uid!, 0, U32),
      level: int(level!, 1, 32), argLength: int(len!, 0, 1 << 30)
    }
    const levels = [[ns1, nr1], [ns2, nr2], [ns3, nr3]].map(([ns, nr]) => ({ namespace: int(ns!, 0, U32), pid: int(nr!, -PID_MAX, PID_MAX) }))
    const cgroupId = u64(cgroup!)
    const mmId = u64(mm!)
    const bad = Object.entries(nums).find(([, v]) => v === null)
    if (bad !== undefined) return fail(line, `exec: ${bad[0]} out of range`)
    if (levels.some((l) => l.namespace === null || l.pid === null)) return fail(line, "exec: namespace or pid out of range")
    if (cgroupId === null || mmId === null) return fail(line, "exec: cgroup or mm out of range")
    return Either.right({
      kind: "exec", ts: nums.ts!, pid: nums.pid!, ppid: nums.ppid!, uid: nums.uid!, level: nums.level!,
      levels: levels.map((l) => ({ namespace: l.namespace!, pid: l.pid! })), cgroupId, mm: mmId, argLength: nums.argLength!
    })
  }
  m = ARGV.exec(line)
  if (m !== null) {
    const pid = int(m[1]!, 1, PID_MAX)
    const mm = u64(m[2]!)
    const offset = int(m[3]!, 0, 1 << 30)
    if (pid === null || mm === null || offset === null) return fail(line, "argv: pid, mm or offset out of range")
    return Either.right({ kind: "argv", pid, mm, offset, bytes: hexBytes(m[4]!) })
  }
  m = EXIT.exec(line)
  if (m !== null) {
    const ts = int(m[1]!, 0, Number.MAX_SAFE_INTEGER)
    const pid = int(m[2]!, 1, PID_MAX)
    const level = int(m[3]!, 1, 32)
    const namespaces = [m[4]!, m[5]!, m[6]!].map((ns) => int(ns, 0, U32))
    const status = int(m[7]!, -(2 ** 31), 2 ** 31 - 1)
    if (ts === null || pid === null || level === null || status === null || namespaces.some((n) => n === null)) {
      return fail(line, "exit: field out of range")
    }
    return Either.right({ kind: "exit", ts, pid, level, namespaces: namespaces as ReadonlyArray<number>, status })
  }
  m = LOST.exec(line)
  if (m !== null) {
    const count = int(m[1]!, 0, Number.MAX_SAFE_INTEGER)
    return count === null ? fail(line, "lost: count out of range") : Either.right({ kind: "lost", count })
  }
  m = SYNC.exec(line)
  if (m !== null) {
    const id = int(m[1]!, 0, Number.MAX_SAFE_INTEGER)
    return id === null ? fail(line, "sync: id out of range") : Either.right({ kind: "sync", id })
  }
  if (NOTICE.test(line)) return Either.right({ kind: "notice", text: line })
  return fail(line, "unknown format")
}

/** Exit code and signal from a kernel wait status. */
export const exitOutcome = (status: number): { readonly exitCode: number | null; readonly signal: number | null } =>
  (status & 0x7f) === 0 ? { exitCode: (status >> 8) & 0xff, signal: null } : { exitCode: null, signal: status & 0x7f }

/**
 * argv from the NUL-separated bytes the kernel keeps (each argument ends with NUL). When fewer bytes
 * were captured than the program had, the last element says how much is missing.
 */
export const argvFromBytes = (bytes: Uint8Array, totalLength: number): ReadonlyArray<string> => {
  const decoder = new TextDecoder("utf-8")
  const parts: Array<string> = []
  let start = 0
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) {
      parts.push(decoder.decode(bytes.subarray(start, i)))
      start = i + 1
    }
  }
  if (start < bytes.length) parts.push(decoder.decode(bytes.subarray(start)))
  if (bytes.length < totalLength) parts.push(`…[argv cut: ${bytes.length} of ${totalLength} bytes recorded]`)
  return parts
}
