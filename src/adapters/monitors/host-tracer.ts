// One bpftrace process for the whole host, shared by every sandbox a monitor watches: started by the
// first subscription, stopped with the last, restarted (with a gap told to every subscriber) when it
// dies. What it prints is the user's to parse and route (the exec tracer of the process monitor, the
// connect() tracer of the network monitor); this module only keeps the process alive and its lines
// flowing. One process instead of one per sandbox: a bpftrace holds ~30 MB of its own memory and
// adds one more probe to every traced syscall on the host.
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import { Data, Effect } from "effect"
import type { Scope } from "effect"
import { diesWithParent } from "./dies-with-parent.js"

export interface TracerGap {
  readonly reason: string
  readonly lost: number | null
  readonly from: string
  readonly to: string | null
}

export class TracerUnavailable extends Data.TaggedError("TracerUnavailable")<{ readonly reason: string }> {
  override get message() {
    return `bpftrace tracer unavailable: ${this.reason}`
  }
}

export interface HostTracerConfig<S> {
  readonly bpftrace: string
  /** The arguments after the binary (`-e`, the script, its positional parameters), read at each start. */
  readonly args: () => ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  /** The line the script prints from BEGIN once its probes are attached. */
  readonly readyLine: string
  readonly attachTimeoutMs: number
  /**
   * Every line bpftrace printed on stdout (ready line included), and its "Lost N events" notices;
   * `run` numbers the bpftrace processes one after another (a restart is a new run).
   */
  readonly onLine: (line: string, run: number) => void
  /** A run ended (stopped or died): whatever was pending on its lines will not complete. */
  readonly onExit?: (run: number) => void
  readonly onStart?: () => void
  readonly onStop?: () => void
  /** The time as gaps report it. */
  readonly now: () => string
  /** Told to every subscriber when the process died (and was restarted, or could not be). */
  readonly onGap: (gap: TracerGap) => void
  /** The subscribers' own index (by namespace, say): the tracer adds and removes, the user routes. */
  readonly add: (subscriber: S) => void
  readonly remove: (subscriber: S) => void
  readonly size: () => number
}

export interface HostTracer<S> {
  /** Routes lines to `subscriber` for the scope's life; the first subscription starts bpftrace. */
  readonly subscribe: (subscriber: S) => Effect.Effect<void, TracerUnavailable, Scope.Scope>
  /** Host pid of the running bpftrace (tests kill it to check the restart path). */
  readonly pid: () => number | null
}

/** Files `subscriber` under `key`, or takes it out (a key left empty goes): for `add` and `remove`. */
export const updateIndex = <K, S>(index: Map<K, Set<S>>, key: K, subscriber: S, add: boolean): void => {
  const set = index.get(key) ?? new Set()
  if (add) set.add(subscriber)
  else set.delete(subscriber)
  if (set.size === 0) index.delete(key)
  else index.set(key, set)
}

const LOST = /Lost \d+ events/
const TRACEFS = "/sys/kernel/tracing"

/** bpftrace needs tracefs for tracepoints; mounts it when missing and we may (root). */
export const ensureTracefs = (): void => {
  if (fs.existsSync(`${TRACEFS}/events`) || fs.existsSync("/sys/kernel/debug/tracing/events")) return
  if (process.getuid?.() === 0) spawnSync("mount", ["-t", "tracefs", "nodev", TRACEFS], { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" }, stdio: "ignore" })
}

export const makeHostTracer = <S>(config: HostTracerConfig<S>): HostTracer<S> => {
  let child: ChildProcess | null = null
  let starting: Promise<ChildProcess> | null = null
  let runs = 0
  const stopping = new WeakSet<ChildProcess>()

  const launch = (): Promise<ChildProcess> =>
    new Promise((resolve, reject) => {
      ensureTracefs()
      const run = ++runs
      const proc = spawn(...diesWithParent(config.bpftrace, config.args()), { env: { ...config.env }, stdio: ["ignore", "pipe", "pipe"] })
      let ready = false
      let stderr = ""
      let rest = ""
      const timer = setTimeout(() => {
        stopping.add(proc)
        proc.kill("SIGKILL")
        reject(new Error(`did not attach within ${config.attachTimeoutMs} ms: ${stderr.trim()}`))
      }, config.attachTimeoutMs)
      proc.stderr!.setEncoding("latin1").on("data", (text: string) => {
        for (const line of text.split("\n")) if (LOST.test(line)) config.onLine(line.trim(), run)
        stderr = (stderr + text).slice(-2000)
      })
      proc.stdout!.setEncoding("latin1").on("data", (text: string) => {
        const lines = (rest + text).split("\n")
        rest = lines.pop() ?? ""
        for (const line of lines) {
          if (!ready && line === config.readyLine) {
            ready = true
            clearTimeout(timer)
            resolve(proc)
          }
          config.onLine(line, run)
        }
      })
      proc.on("error", (error) => {
        clearTimeout(timer)
        reject(new Error(`cannot run ${config.bpftrace}: ${error.message}`))
      })
      proc.on("exit", (code, signal) => {
        clearTimeout(timer)
        config.onExit?.(run)
        // the messages bpftrace prints about its memory lock limit are noise here
        const said = stderr.split("\n").filter((l) => l.trim() !== "" && !l.includes("RLIMIT_MEMLOCK")).join("; ").slice(-500)
        if (!ready) reject(new Error(`bpftrace exited (${code ?? signal}) before attaching${said === "" ? "" : `: ${said}`}`))
        else if (!stopping.has(proc)) died(proc, `bpftrace exited unexpectedly (${code ?? signal})${said === "" ? "" : `: ${said}`}`)
      })
    })

  const ensureRunning = (): Promise<ChildProcess> => {
    if (child !== null) return Promise.resolve(child)
    if (starting === null) {
      starting = launch().then(
        (proc) => {
          child = proc
          starting = null
          config.onStart?.()
          // a restart after a death may finish after the last subscriber left: nobody would stop it
          if (config.size() === 0) void stop()
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
    config.onStop?.()
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

  function died(proc: ChildProcess, reason: string) {
    if (child === proc) child = null
    const from = config.now()
    if (config.size() === 0) return
    ensureRunning().then(
      () => config.onGap({ reason: `${reason}; restarted`, lost: null, from, to: config.now() }),
      (error: Error) => config.onGap({ reason: `${reason}; could not restart: ${error.message}`, lost: null, from, to: null })
    )
  }

  const mutex = Effect.unsafeMakeSemaphore(1)

  const subscribe = (subscriber: S) =>
    Effect.acquireRelease(
      mutex.withPermits(1)(
        Effect.tryPromise({
          try: () => {
            config.add(subscriber)
            return ensureRunning()
          },
          catch: (error) => {
            config.remove(subscriber)
            return new TracerUnavailable({ reason: error instanceof Error ? error.message : String(error) })
          }
        })
      ),
      () =>
        mutex.withPermits(1)(
          Effect.promise(() => {
            config.remove(subscriber)
            return config.size() === 0 ? stop() : Promise.resolve()
          })
        )
    ).pipe(Effect.asVoid)

  return { subscribe, pid: () => child?.pid ?? null }
}
