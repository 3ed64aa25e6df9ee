// Raw connection attempts, seen in the kernel: bpftrace on the connect() syscall tracepoints. One
// bpftrace for the whole host (host-tracer.ts) traces every connect() made outside the host's own pid
// and network namespaces, prints the namespaces it was made in, and each attempt goes to the
// sandboxes whose pid or network namespace that is. Such connections bypass the proxy; with only
// loopback in the sandbox they fail by construction, and this is their record.
import { Effect } from "effect"
import type { Scope } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { ensureTracefs, makeHostTracer, updateIndex, type TracerGap } from "../host-tracer.js"
import { formatIp, hostLocalKind } from "./address.js"
import type { IpAddress } from "./address.js"

export const MECHANISM = "bpftrace: tracepoint syscalls:sys_enter_connect/sys_exit_connect, one tracer for the host, attributed by pid and network namespace"

// $1: the host's network namespace. A task in a child pid namespace, or in another network
// namespace, is traced; the host's own connections are not printed at all.
const SCRIPT = `
BEGIN { printf("READY\\n"); }
tracepoint:syscalls:sys_enter_connect
/ curtask->nsproxy->pid_ns_for_children->level > 0 || curtask->nsproxy->net_ns->ns.inum != $1 /
{
  $sa = (uint8 *)args->uservaddr;
  $family = *(uint16 *)$sa;
  $port = (*(uint8 *)($sa + 2) << 8) | *(uint8 *)($sa + 3);
  $pidns = curtask->nsproxy->pid_ns_for_children->ns.inum;
  $netns = curtask->nsproxy->net_ns->ns.inum;
  if ($family == 2 && *(uint8 *)($sa + 4) != 127) {
    printf("C %d %d %u %u 4 %d %u\\n", pid, tid, $pidns, $netns, $port, *(uint32 *)($sa + 4));
    @pending[tid] = 1;
  }
  if ($family == 10) {
    printf("C %d %d %u %u 6 %d %u %u %u %u\\n", pid, tid, $pidns, $netns, $port, *(uint32 *)($sa + 8), *(uint32 *)($sa + 12), *(uint32 *)($sa + 16), *(uint32 *)($sa + 20));
    @pending[tid] = 1;
  }
}
tracepoint:syscalls:sys_exit_connect / @pending[tid] / { printf("R %d %d\\n", tid, args->ret); delete(@pending[tid]); }
END { clear(@pending); }
`

export interface RawConnect {
  readonly pid: number
  readonly address: IpAddress
  readonly port: number
  /** connect()'s return value (0, or a negative errno); null when its exit was not seen. */
  readonly result: number | null
}

/** An attempt and the namespaces (inode numbers) of the task that made it. */
export interface TracedConnect extends RawConnect {
  readonly pidNs: number
  readonly netNs: number
}

export interface TraceHandlers {
  readonly onConnect: (attempt: RawConnect) => void
  /** bpftrace dropped events or was restarted: a window in which attempts may be missing. */
  readonly onGap: (gap: TracerGap) => void
}

/** Reads the little-endian u32 words bpftrace printed back into address bytes. */
export const wordsToAddress = (family: 4 | 6, words: ReadonlyArray<number>): IpAddress => {
  const bytes = new Uint8Array(family === 4 ? 4 : 16)
  words.slice(0, family === 4 ? 1 : 4).forEach((word, i) => {
    for (let b = 0; b < 4; b++) bytes[i * 4 + b] = (word >>> (8 * b)) & 0xff
  })
  return { family, bytes }
}

type Entered = Omit<TracedConnect, "result">

/** Parses one line of the trace; pairs enters with exits per thread through `pending`. */
export const readTraceLine = (line: string, pending: Map<number, Entered>): TracedConnect | "lost" | null => {
  const fields = line.trim().split(/\s+/)
  const numbers = fields.slice(1).map(Number)
  if (fields[0] === "C" && numbers.every(Number.isSafeInteger)) {
    const [pid = 0, tid = 0, pidNs = 0, netNs = 0, family, port = 0, ...words] = numbers
    if ((family !== 4 || words.length !== 1) && (family !== 6 || words.length !== 4)) return null
    pending.set(tid, { pid, pidNs, netNs, address: wordsToAddress(family, words), port })
    return null
  }
  if (fields[0] === "R" && numbers.length === 2 && numbers.every(Number.isSafeInteger)) {
    const [tid = 0, result = 0] = numbers
    const entered = pending.get(tid)
    pending.delete(tid)
    return entered === undefined ? null : { ...entered, result }
  }
  return /Lost \d+ events/.test(line) ? "lost" : null
}

const ERRNO: Readonly<Record<number, string>> = { 101: "ENETUNREACH", 113: "EHOSTUNREACH", 111: "ECONNREFUSED", 115: "EINPROGRESS", 110: "ETIMEDOUT", 13: "EACCES", 1: "EPERM" }
export const describeResult = (result: number | null): string =>
  result === null ? "its result was not seen" : result === 0 ? "it returned 0" : `it failed with ${ERRNO[-result] ?? `errno ${-result}`}`

/** Loopback (the sandbox's own, which includes the proxy) is the sandbox talking to itself: not recorded. */
export const isOwnLoopback = (address: IpAddress): boolean => {
  const kind = hostLocalKind(address, [])
  return kind === "loopback" || kind === "unspecified"
}

const namespaceInode = (pid: number | "self", ns: "pid" | "net"): number | null => {
  try {
    const inode = /\[(\d+)\]/.exec(fs.readlinkSync(`/proc/${pid}/ns/${ns}`))?.[1]
    return inode === undefined ? null : Number(inode)
  } catch {
    return null
  }
}

/** Why syscall tracing cannot run here, or null; mounts tracefs when it is missing. */
export const traceUnavailable = (bpftrace: string): string | null => {
  try {
    execFileSync(bpftrace, ["--version"], { stdio: "ignore" })
  } catch {
    return `${bpftrace} cannot run (install bpftrace)`
  }
  const events = "/sys/kernel/tracing/events/syscalls/sys_enter_connect"
  if (!fs.existsSync(events)) ensureTracefs()
  return fs.existsSync(events) ? null : `${events} is missing (tracefs not mountable, or no syscall tracepoints)`
}

const now = () => new Date().toISOString()

interface Subscriber {
  readonly pidNs: number
  readonly netNs: number
  readonly handlers: TraceHandlers
}

export interface ConnectTracer {
  /**
   * Hands the connect() attempts made in the sandbox of `pid` (its pid or its network namespace) to
   * `handlers` until the scope closes. The first subscription starts bpftrace and fails with the
   * reason when it cannot run or does not attach within 20 s; a bpftrace that dies is restarted and
   * the window reported to every subscriber as a gap.
   */
  readonly subscribe: (pid: number, handlers: TraceHandlers) => Effect.Effect<void, string, Scope.Scope>
  /** Host pid of the running bpftrace (null when no sandbox is traced). */
  readonly pid: () => number | null
}

export const makeConnectTracer = (bpftrace = "bpftrace"): ConnectTracer => {
  // A sandbox always has a network namespace of its own; the host's is never a way to tell one apart.
  const hostNetNs = namespaceInode("self", "net")
  const byPidNs = new Map<number, Set<Subscriber>>()
  const byNetNs = new Map<number, Set<Subscriber>>()
  // per bpftrace run: a connect() entered in one run is never completed by another's exit line
  const pending = new Map<number, Map<number, Entered>>()
  const all = () => new Set([...byPidNs.values()].flatMap((set) => [...set]))
  /** Each subscriber of the attempt's pid or network namespace, once. */
  const route = (attempt: TracedConnect) => {
    const byNet = attempt.netNs === hostNetNs ? undefined : byNetNs.get(attempt.netNs)
    const targets = new Set([...(byPidNs.get(attempt.pidNs) ?? []), ...(byNet ?? [])])
    const { pidNs: _p, netNs: _n, ...raw } = attempt
    for (const s of targets) s.handlers.onConnect(raw)
  }
  const host = makeHostTracer<Subscriber>({
    bpftrace,
    args: () => ["-e", SCRIPT, String(hostNetNs ?? 0)],
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", BPFTRACE_NO_USER_SYMBOLS: "1" },
    readyLine: "READY",
    attachTimeoutMs: 20_000,
    onLine: (line, run) => {
      const entered = pending.get(run) ?? new Map<number, Entered>()
      pending.set(run, entered)
      const read = readTraceLine(line, entered)
      if (read === "lost") {
        const at = now()
        const gap = { reason: `bpftrace: ${line.trim()} host-wide; some may have been this sandbox's`, lost: Number(/(\d+)/.exec(line)?.[1] ?? "0"), from: at, to: at }
        for (const s of all()) s.handlers.onGap(gap)
      } else if (read !== null) route(read)
    },
    // attempts whose exit was never printed are still attempts
    onExit: (run) => {
      for (const entered of pending.get(run)?.values() ?? []) route({ ...entered, result: null })
      pending.delete(run)
    },
    now,
    onGap: (gap) => {
      for (const s of all()) s.handlers.onGap(gap)
    },
    add: (s) => {
      updateIndex(byPidNs, s.pidNs, s, true)
      updateIndex(byNetNs, s.netNs, s, true)
    },
    remove: (s) => {
      updateIndex(byPidNs, s.pidNs, s, false)
      updateIndex(byNetNs, s.netNs, s, false)
    },
    size: () => byPidNs.size
  })

  const subscribe = (pid: number, handlers: TraceHandlers) =>
    Effect.gen(function* () {
      if (host.pid() === null) {
        const problem = traceUnavailable(bpftrace)
        if (problem !== null) return yield* Effect.fail(problem)
      }
      const pidNs = namespaceInode(pid, "pid")
      const netNs = namespaceInode(pid, "net")
      if (pidNs === null || netNs === null) return yield* Effect.fail(`cannot read the namespaces of pid ${pid}`)
      yield* host.subscribe({ pidNs, netNs, handlers }).pipe(Effect.mapError((e) => e.reason))
    })

  return { subscribe, pid: host.pid }
}

export const describeAttempt = (attempt: RawConnect): string =>
  `connect() to ${formatIp(attempt.address)} port ${attempt.port} outside the proxy; ${describeResult(attempt.result)} (the sandbox's network has only loopback)`
