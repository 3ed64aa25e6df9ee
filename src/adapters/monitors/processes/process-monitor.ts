// The process monitor: every exec inside a sandbox as ProcessStarted, the end of those processes as
// ProcessExited. bpftrace on scheduler tracepoints sees every exec, however short; where it cannot
// run, polling /proc is the fallback, and says what it misses (MonitorStarted.blindSpots, MonitorGap).
// One Monitor value shares one bpftrace process among all the sandboxes it watches.
import * as fs from "node:fs"
import { Effect, Schedule } from "effect"
import type { NewEvent } from "../../../domain/ledger/event-definition.js"
import { MonitorGap, MonitorStarted, MonitorStopped } from "../../../domain/monitors/monitor-events.js"
import { MonitorUnavailable, type Monitor, type MonitorTarget, type ObservationSink } from "../monitor.js"
import { makeExecTracer, type ExecTracer, type ExecTracerOptions, type TraceSubscriber } from "./exec-tracer.js"
import { makeMonotonicClock, monotonicNowNs } from "./monotonic-clock.js"
import { makeObservationWriter, type ObservationWriter } from "./observation-writer.js"
import { makeProcPoller, pidNamespaceOf } from "./proc-poller.js"
import { makeProcessTracker } from "./process-tracker.js"
import { ARGV_CAPTURE_BYTES } from "./trace-script.js"

export interface ProcessMonitorOptions extends ExecTracerOptions {
  /** `bpftrace`: fail when it cannot run; `proc`: poll only; `auto` (default): bpftrace, else poll and say so. */
  readonly mechanism?: "auto" | "bpftrace" | "proc"
  /** Polling interval of the /proc fallback; 50 ms when left out. */
  readonly pollIntervalMs?: number
}

export interface ProcessMonitor extends Monitor {
  /** The shared tracer (tests use its pid and sync). */
  readonly tracer: ExecTracer
}

export const BPFTRACE_MECHANISM = "bpftrace: tracepoints sched:sched_process_exec and sched:sched_process_exit, attributed by pid namespace"

export const BPFTRACE_BLIND_SPOTS: ReadonlyArray<string> = [
  `argv past its first ${ARGV_CAPTURE_BYTES} bytes (recorded cut, with a final element saying so)`,
  "cwd of a process that ended before /proc/<pid>/cwd was read (recorded null)",
  "processes exec'd before the monitor started (their exits are not recorded)",
  "forks that never exec (no ProcessStarted; a process is recorded at each exec)"
]

export const pollBlindSpots = (intervalMs: number): ReadonlyArray<string> => [
  `processes shorter than the polling interval (${intervalMs} ms)`,
  `successive execs of one process within ${intervalMs} ms (only the last is seen)`,
  "exit codes and signals (ProcessExited has both null)",
  "start times finer than the kernel's 10 ms ticks; durations are measured between polls",
  "processes already running when the monitor started"
]

const readCwd = (pid: number): string | null => {
  try {
    return fs.readlinkSync(`/proc/${pid}/cwd`)
  } catch {
    return null
  }
}

export const makeProcessMonitor = (options: ProcessMonitorOptions = {}): ProcessMonitor => {
  const tracer = makeExecTracer(options)
  const clock = makeMonotonicClock()
  const iso = () => clock.iso(monotonicNowNs())
  const mechanism = options.mechanism ?? "auto"
  const intervalMs = options.pollIntervalMs ?? 50
  const unavailable = (reason: string) => new MonitorUnavailable({ monitor: "processes", reason })

  const startedEvent = (sandboxId: string, how: string, blindSpots: ReadonlyArray<string>): NewEvent => ({
    type: MonitorStarted.type,
    data: { sandboxId, monitor: "processes", mechanism: how, blindSpots }
  })
  const gapEvent = (sandboxId: string, gap: { reason: string; lost: number | null; from: string; to: string | null }): NewEvent => ({
    type: MonitorGap.type,
    data: { sandboxId, monitor: "processes", ...gap }
  })

  /** Subscribes to the shared tracer; observations wait behind `gate` until MonitorStarted is written. */
  const traced = (target: MonitorTarget, namespace: number, writer: ObservationWriter) =>
    Effect.gen(function* () {
      const tracker = makeProcessTracker(target.sandboxId, clock)
      let gate: Array<NewEvent> | null = []
      const emit = (events: ReadonlyArray<NewEvent>) => (gate === null ? writer.push(events) : gate.push(...events))
      const subscriber: TraceSubscriber = {
        namespace,
        onExec: (exec, nsPid) => emit(tracker.exec(exec, nsPid, readCwd(exec.pid))),
        onExit: (exit) => emit(tracker.exit(exit)),
        onGap: (gap) => emit([gapEvent(target.sandboxId, gap)]),
        onTick: (now) => tracker.expire(now)
      }
      yield* tracer.subscribe(subscriber)
      writer.push([startedEvent(target.sandboxId, BPFTRACE_MECHANISM, BPFTRACE_BLIND_SPOTS), ...(gate ?? [])])
      gate = null
      return tracer.sync
    })

  const polled = (target: MonitorTarget, namespace: number, writer: ObservationWriter, why: string) =>
    Effect.gen(function* () {
      const poller = makeProcPoller(target.sandboxId, target.cgroup, namespace, clock)
      const pollNow = Effect.sync(() => writer.push(poller.poll(monotonicNowNs())))
      const how = `poll /proc every ${intervalMs} ms (the processes of the sandbox's cgroup in its pid namespace)`
      writer.push([
        startedEvent(target.sandboxId, how, pollBlindSpots(intervalMs)),
        gapEvent(target.sandboxId, { reason: `${why}: polling misses processes shorter than ${intervalMs} ms`, lost: null, from: iso(), to: null })
      ])
      yield* pollNow
      yield* Effect.forkScoped(Effect.repeat(pollNow, Schedule.spaced(`${intervalMs} millis`)))
      return pollNow
    })

  const start = (target: MonitorTarget, sink: ObservationSink) =>
    Effect.gen(function* () {
      const namespace = target.pid > 0 ? pidNamespaceOf(target.pid) : null
      if (namespace === null) return yield* Effect.fail(unavailable(`cannot read the pid namespace of sandbox pid ${target.pid}`))
      if (namespace === pidNamespaceOf("self")) return yield* Effect.fail(unavailable("the sandbox shares the monitor's pid namespace"))
      const writer = yield* makeObservationWriter(sink, { sandboxId: target.sandboxId, monitor: "processes", iso })
      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          yield* writer.drain
          writer.push([{ type: MonitorStopped.type, data: { sandboxId: target.sandboxId, monitor: "processes", reason: "monitor stopped", observed: writer.observed() } }])
          yield* writer.drain
        })
      )
      const catchUp: Effect.Effect<void> =
        mechanism === "proc"
          ? yield* polled(target, namespace, writer, "polling chosen instead of bpftrace")
          : yield* traced(target, namespace, writer).pipe(
              Effect.catchAll((error) =>
                mechanism === "bpftrace" ? Effect.fail(unavailable(error.reason)) : polled(target, namespace, writer, `bpftrace unavailable (${error.reason})`)
              )
            )
      return {
        kind: "processes" as const,
        flush: Effect.zipRight(catchUp, writer.drain),
        observed: Effect.sync(() => writer.observed())
      }
    })

  return { kind: "processes", tracer, start }
}
