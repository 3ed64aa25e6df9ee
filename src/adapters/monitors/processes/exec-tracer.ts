// One bpftrace process for the whole host, shared by every sandbox the process monitor watches:
// started by the first subscription, ended with the last, restarted (with a gap) if it dies. Lines
// are parsed here and each observation is handed to the subscriber whose pid namespace it is in.
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import { Data, Effect, Either } from "effect"
import type { Scope } from "effect"
import { diesWithParent } from "../dies-with-parent.js"
import { makeExecAssembly, type ObservedExec } from "./exec-assembly.js"
import { makeMonotonicClock, monotonicNowNs } from "./monotonic-clock.js"
import type { ObservedExit } from "./process-tracker.js"
import { MAX_LEVEL, SYNC_BASE, traceScript } from "./trace-script.js"
import { parseTraceLine, type TraceLine } from "./trace-line.js"

export interface TracerGap {
  readonly reason: string
  readonly lost: number | null
  readonly from: string
  readonly to: string | null
}

export interface TraceSubscriber {
  /** Inode number of the sandbox's pid namespace (`readlink /proc/<pid>/ns/pid`). */
  readonly namespace: number
  readonly onExec: (exec: ObservedExec, nsPid: number) => void
  readonly onExit: (exit: ObservedExit) => void
  /** Something host-wide may have hidden observations of this subscriber. */
  readonly onGap: (gap: TracerGap) => void
  readonly onTick: (nowTs: number) => void
}

export class TracerUnavailable extends Data.TaggedError("TracerUnavailable")<{ readonly reason: string }> {
  override get message() {
    return `bpftrace exec tracer unavailable: ${this.reason}`
  }
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
const TRACEFS = "/sys/kernel/tracing"

/** bpftrace needs tracefs for tracepoints; mount it when missing and we may (root). */
const ensureTracefs = (): void => {
  if (fs.existsSync(`${TRACEFS}/events`) || fs.existsSync("/sys/kernel/debug/tracing/events")) return
  if (process.getuid?.() === 0) spawnSync("mount", ["-t", "tracefs", "nodev", TRACEFS], { env: { PATH: HOST_PATH }, stdio: "ignore" })
}

export const makeExecTracer = (options: ExecTracerOptions = {}): ExecTracer => {
  const clock = makeMonotonicClock()
  const subscribers = new Map<number, Set<TraceSubscriber>>()
  const syncWaiters = new Map<number, () => void>()
  const assembly = makeExecAssembly()
  let child: ChildProcess | null = null
  let starting: Promise<ChildProcess> | null = null
  let ticker: NodeJS.Timeout | null = null
  let syncSeq = 0
  let malformed = 0
  const stopping = new WeakSet<ChildProcess>()

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

  const launch = (): Promise<ChildProcess> =>
    new Promise((resolve, reject) => {
      ensureTracefs()
      const pages = options.perfPagesPerCpu ?? 1024
      const proc = spawn(...diesWithParent(options.bpftrace ?? "bpftrace", ["-e", traceScript()]), {
        env: { PATH: HOST_PATH, BPFTRACE_STRLEN: "200", BPFTRACE_PERF_RB_PAGES: String(pages) },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let ready = false
      let stderr = ""
      let rest = ""
      const timer = setTimeout(() => {
        stopping.add(proc)
        proc.kill("SIGKILL")
        reject(new Error(`did not attach within ${options.attachTimeoutMs ?? 20_000} ms: ${stderr.trim()}`))
      }, options.attachTimeoutMs ?? 20_000)
      proc.stderr!.setEncoding("latin1").on("data", (text: string) => {
        stderr = (stderr + text).slice(-2000)
      })
      proc.stdout!.setEncoding("latin1").on("data", (text: string) => {
        const lines = (rest + text).split("\n")
        rest = lines.pop() ?? ""
        for (const line of lines) {
          if (!ready && line === "R") {
            ready = true
            clearTimeout(timer)
            resolve(proc)
          }
          onLine(line)
        }
      })
      proc.on("error", (error) => {
        clearTimeout(timer)
        reject(new Error(`cannot run ${options.bpftrace ?? "bpftrace"}: ${error.message}`))
      })
      proc.on("exit", (code, signal) => {
        clearTimeout(timer)
        if (!ready) reject(new Error(`bpftrace exited (${code ?? signal}) before attaching: ${stderr.trim().slice(-500)}`))
        else if (!stopping.has(proc)) died(proc, `bpftrace exited unexpectedly (${code ?? signal}): ${stderr.trim().slice(-200)}`)
      })
    })

  const ensureRunning = (): Promise<ChildProcess> => {
    if (child !== null) return Promise.resolve(child)
    if (starting === null) {
      starting = launch().then(
        (proc) => {
          child = proc
          starting = null
          ticker ??= setInterval(tick, 200).unref()
          return proc
        },
        (error: unknown) => {
          starting = null
          throw error
        }
      )
    }
    return starting
  }

  const stop = (): Promise<void> => {
    const proc = child
    child = null
    if (ticker !== null) clearInterval(ticker)
    ticker = null
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve()
    stopping.add(proc)
    return new Promise((resolve) => {
      const force = setTimeout(() => proc.kill("SIGKILL"), 3_000)
      proc.once("exit", () => {
        clearTimeout(force)
        resolve()
      })
      proc.kill("SIGTERM")
    })
  }

  const died = (proc: ChildProcess, reason: string) => {
    if (child === proc) child = null
    const from = clock.iso(monotonicNowNs())
    if (all().length === 0) return
    ensureRunning().then(
      () => gapForAll({ reason: `${reason}; restarted`, lost: null, from, to: clock.iso(monotonicNowNs()) }),
      (error: Error) => gapForAll({ reason: `${reason}; could not restart: ${error.message}`, lost: null, from, to: null })
    )
  }

  const add = (s: TraceSubscriber) => {
    const set = subscribers.get(s.namespace) ?? new Set()
    set.add(s)
    subscribers.set(s.namespace, set)
  }
  const remove = (s: TraceSubscriber) => {
    const set = subscribers.get(s.namespace)
    set?.delete(s)
    if (set?.size === 0) subscribers.delete(s.namespace)
  }

  const mutex = Effect.unsafeMakeSemaphore(1)

  const subscribe = (subscriber: TraceSubscriber) =>
    Effect.acquireRelease(
      mutex.withPermits(1)(
        Effect.tryPromise({
          try: () => {
            add(subscriber)
            return ensureRunning()
          },
          catch: (error) => {
            remove(subscriber)
            return new TracerUnavailable({ reason: error instanceof Error ? error.message : String(error) })
          }
        })
      ),
      () =>
        mutex.withPermits(1)(
          Effect.promise(() => {
            remove(subscriber)
            return all().length === 0 ? stop() : Promise.resolve()
          })
        )
    ).pipe(Effect.asVoid)

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
  const sync = Effect.suspend(() => (child === null ? Effect.void : Effect.zipRight(syncOnce(++syncSeq), syncOnce(++syncSeq))))

  return { subscribe, sync, pid: () => child?.pid ?? null, malformedLines: () => malformed }
}
