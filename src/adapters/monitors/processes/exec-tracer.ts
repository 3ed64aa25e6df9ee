// The process monitor's exec tracer: one bpftrace for the whole host (host-tracer.ts), shared by
// every sandbox the monitor watches. Lines are parsed here and each observation is handed to the
// subscriber whose pid namespace it is in.
import * as os from "node:os"
import { Effect, Either } from "effect"
import type { Scope } from "effect"
import { makeHostTracer, updateIndex, type TracerGap, type TracerUnavailable } from "../host-tracer.js"
import { makeExecAssembly, type ObservedExec } from "./exec-assembly.js"
import { makeMonotonicClock, monotonicNowNs } from "./monotonic-clock.js"
import type { ObservedExit } from "./process-tracker.js"
import { MAX_LEVEL, SYNC_BASE, traceScript } from "./trace-script.js"
import { parseTraceLine, type TraceLine } from "./trace-line.js"

export { TracerUnavailable, type TracerGap } from "../host-tracer.js"

export interface TraceSubscriber {
  /** Inode number of the sandbox's pid namespace (`readlink /proc/<pid>/ns/pid`). */
  readonly namespace: number
  readonly onExec: (exec: ObservedExec, nsPid: number) => void
  readonly onExit: (exit: ObservedExit) => void
  /** Something host-wide may have hidden observations of this subscriber. */
  readonly onGap: (gap: TracerGap) => void
  readonly onTick: (nowTs: number) => void
}

export interface ExecTracerOptions {
  /** The bpftrace binary; `bpftrace` on PATH when left out. */
  readonly bpftrace?: string
  readonly attachTimeoutMs?: number
  /** Perf ring buffer pages per CPU (a power of 2): room for bursts while the reader is busy. */
  readonly perfPagesPerCpu?: number
}

export interface ExecTracer {
  readonly subscribe: (subscriber: TraceSubscriber) => Effect.Effect<void, TracerUnavailable, Scope.Scope>
  /** Resolves once bpftrace has printed what was traced before the call (no-op when not running). */
  readonly sync: Effect.Effect<void>
  /** Host pid of the running bpftrace (tests kill it to check the restart path). */
  readonly pid: () => number | null
  readonly malformedLines: () => number
}

const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

export const makeExecTracer = (options: ExecTracerOptions = {}): ExecTracer => {
  const clock = makeMonotonicClock()
  const subscribers = new Map<number, Set<TraceSubscriber>>()
  const syncWaiters = new Map<number, () => void>()
  const assembly = makeExecAssembly()
  let ticker: NodeJS.Timeout | null = null
  let syncSeq = 0
  let malformed = 0

  const all = (): Array<TraceSubscriber> => [...subscribers.values()].flatMap((set) => [...set])
  const gapForAll = (gap: TracerGap) => all().forEach((s) => s.onGap(gap))

  const routeExec = (exec: ObservedExec) => {
    for (let k = 0; k < Math.min(exec.level, MAX_LEVEL); k++) {
      const at = exec.levels[k]
      const targets = at === undefined ? undefined : subscribers.get(at.namespace)
      if (at !== undefined && targets !== undefined) targets.forEach((s) => s.onExec(exec, at.pid))
    }
  }

  const handle = (line: TraceLine): void => {
    switch (line.kind) {
      case "exec":
      case "argv":
        assembly.add(line).forEach(routeExec)
        return
      case "exit":
        for (let k = 0; k < Math.min(line.level, MAX_LEVEL); k++) {
          subscribers.get(line.namespaces[k]!)?.forEach((s) => s.onExit({ ts: line.ts, pid: line.pid, status: line.status }))
        }
        return
      case "lost": {
        const at = clock.iso(monotonicNowNs())
        gapForAll({ reason: `bpftrace lost ${line.count} events host-wide (perf buffer overflow); some may have been this sandbox's`, lost: line.count, from: at, to: at })
        return
      }
      case "sync":
        syncWaiters.get(line.id)?.()
        return
      case "ready":
      case "notice":
        return
    }
  }

  const onLine = (line: string) => {
    if (line === "") return
    const parsed = parseTraceLine(line)
    if (Either.isRight(parsed)) return handle(parsed.right)
    malformed++
    const at = clock.iso(monotonicNowNs())
    gapForAll({ reason: parsed.left.message, lost: null, from: at, to: at })
  }

  const tick = () => {
    const now = monotonicNowNs()
    assembly.expire(now).released.forEach(routeExec)
    all().forEach((s) => s.onTick(now))
  }

  const host = makeHostTracer<TraceSubscriber>({
    bpftrace: options.bpftrace ?? "bpftrace",
    args: () => ["-e", traceScript()],
    env: { PATH: HOST_PATH, BPFTRACE_STRLEN: "200", BPFTRACE_PERF_RB_PAGES: String(options.perfPagesPerCpu ?? 1024) },
    readyLine: "R",
    attachTimeoutMs: options.attachTimeoutMs ?? 20_000,
    onLine,
    onStart: () => {
      ticker ??= setInterval(tick, 200).unref()
    },
    onStop: () => {
      if (ticker !== null) clearInterval(ticker)
      ticker = null
    },
    now: () => clock.iso(monotonicNowNs()),
    onGap: gapForAll,
    add: (s) => updateIndex(subscribers, s.namespace, s, true),
    remove: (s) => updateIndex(subscribers, s.namespace, s, false),
    size: () => subscribers.size
  })

  const syncOnce = (id: number) =>
    Effect.async<void>((resume) => {
      const done = () => {
        syncWaiters.delete(id)
        clearTimeout(timer)
        resume(Effect.void)
      }
      const timer = setTimeout(done, 2_000)
      syncWaiters.set(id, done)
      try {
        os.getPriority(SYNC_BASE + id)
      } catch {
        // ESRCH is expected: the call only exists to be traced.
      }
    })

  // Twice: events of other CPUs traced before the first marker are printed by the second at the latest.
  const sync = Effect.suspend(() => (host.pid() === null ? Effect.void : Effect.zipRight(syncOnce(++syncSeq), syncOnce(++syncSeq))))

  return { subscribe: host.subscribe, sync, pid: host.pid, malformedLines: () => malformed }
}
