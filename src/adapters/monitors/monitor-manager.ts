// Runs the monitors of every running sandbox: started through the SandboxHooks before `launch`
// returns, stopped when the sandbox's processes are gone, all stopped (flushed, MonitorStopped) when
// the daemon shuts down. A monitor that cannot start is recorded as a MonitorGap that stays open, and
// a sandbox found alive after a daemon restart gets a MonitorGap for the time nobody watched it.
import * as path from "node:path"
import { Effect, Either, ExecutionStrategy, Exit, Layer, Option, Scope, Stream } from "effect"
import { observationStream, MonitorGap } from "../../domain/monitors/monitor-events.js"
import type { SandboxView } from "../../projections/sandboxes.js"
import type { SandboxHandle } from "../../runners/runner.js"
import { Ledger } from "../ledger/ledger.js"
import { sandboxDirs } from "../sandbox/mapping.js"
import { SandboxHooks, type SandboxHooksShape } from "../sandbox/sandbox-hooks.js"
import { EventStore } from "../store/event-store.js"
import { optionalEnforcer } from "../enforcement/enforcer.js"
import { ledgerSink } from "./ledger-sink.js"
import type { Monitor, MonitorTarget, ObservationSink, RunningMonitor } from "./monitor.js"

export interface MonitorManagerOptions {
  readonly dataDir: string
  readonly monitors: ReadonlyArray<Monitor>
  readonly log?: (line: string) => void
}

const isoNow = () => new Date().toISOString()

export const monitorTarget = (dataDir: string, view: SandboxView, handle: SandboxHandle): MonitorTarget => {
  const dirs = sandboxDirs(dataDir, view.id)
  return {
    sandboxId: view.id,
    runner: handle.runner,
    workspaceDir: dirs.workspace,
    stateDir: path.join(dirs.root, "monitors"),
    cgroup: handle.cgroup,
    pid: handle.pid ?? 0,
    network: view.network,
    ...(view.resources.network_mbps !== undefined ? { networkMbps: view.resources.network_mbps } : {})
  }
}

export const make = (options: MonitorManagerOptions) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    const store = yield* EventStore
    const daemonScope = yield* Effect.scope
    // The enforcement engine, when the daemon runs one, sees every observation as it is recorded.
    const enforcer = yield* optionalEnforcer
    const sinkFor = (sandboxId: string, monitor: string): ObservationSink => {
      const sink = ledgerSink(ledger, sandboxId, monitor)
      return enforcer === null ? sink : { append: (events) => Effect.tap(sink.append(events), (records) => enforcer.observe(sandboxId, records)) }
    }
    const watching = new Map<string, { readonly scope: Scope.CloseableScope; readonly running: Array<RunningMonitor> }>()
    const log = options.log ?? (() => {})

    const gap = (sandboxId: string, monitor: string, reason: string, from: string, to: string | null) =>
      ledgerSink(ledger, sandboxId, "monitor-manager")
        .append([{ type: MonitorGap.type, data: { sandboxId, monitor, reason, lost: null, from, to } }])
        .pipe(Effect.catchAll((e) => Effect.sync(() => log(`could not record a monitor gap for ${sandboxId}: ${e.message}`))))

    /** When the sandbox was last watched: its latest observation, else when it was last changed. */
    const lastWatched = (view: SandboxView) =>
      store.readStream(observationStream(view.id)).pipe(
        Stream.runLast,
        Effect.map(Option.match({ onNone: () => view.updatedAt, onSome: ({ record }) => record.at })),
        Effect.orElseSucceed(() => view.updatedAt)
      )

    const running: SandboxHooksShape["running"] = (view, handle, how) =>
      Effect.gen(function* () {
        if (enforcer !== null) yield* enforcer.running(view, handle)
        if (watching.has(view.id) || options.monitors.length === 0) return
        const scope = yield* Scope.fork(daemonScope, ExecutionStrategy.sequential)
        const entry = { scope, running: [] as Array<RunningMonitor> }
        watching.set(view.id, entry)
        const target = monitorTarget(options.dataDir, view, handle)
        if (how.restarted) {
          const from = yield* lastWatched(view)
          for (const monitor of options.monitors) {
            yield* gap(view.id, monitor.kind, "the daemon was not running: what happened in the sandbox meanwhile was not observed", from, isoNow())
          }
        }
        // All at once: a launch waits for every monitor to start, and they wait on different things
        // (the first sandbox's bpftrace tracers take ~0.5 s each to attach).
        const results = yield* Effect.forEach(
          options.monitors,
          (monitor) => Effect.either(monitor.start(target, sinkFor(view.id, monitor.kind)).pipe(Scope.extend(scope))),
          { concurrency: "unbounded" }
        )
        for (const [i, started] of results.entries()) {
          if (Either.isRight(started)) entry.running.push(started.right)
          else {
            log(`sandbox ${view.id}: ${started.left.message}`)
            yield* gap(view.id, options.monitors[i]!.kind, `monitor not running: ${started.left.reason}`, isoNow(), null)
          }
        }
      })

    const ended: SandboxHooksShape["ended"] = (sandboxId) =>
      Effect.suspend(() => {
        const stopEnforcing = enforcer === null ? Effect.void : enforcer.ended(sandboxId)
        const entry = watching.get(sandboxId)
        if (entry === undefined) return stopEnforcing
        watching.delete(sandboxId)
        return stopEnforcing.pipe(
          Effect.zipRight(Effect.forEach(entry.running, (m) => m.flush, { discard: true })),
          Effect.zipRight(Scope.close(entry.scope, Exit.void))
        )
      })

    return {
      hooks: { running, ended } satisfies SandboxHooksShape,
      /** Flushes every monitor of a sandbox (tests, `monitor` follow mode). */
      flush: (sandboxId: string) => Effect.forEach(watching.get(sandboxId)?.running ?? [], (m) => m.flush, { discard: true }),
      watched: () => [...watching.keys()]
    }
  })

export const monitorHooksLayer = (options: MonitorManagerOptions) =>
  Layer.scoped(SandboxHooks, Effect.map(make(options), (manager) => manager.hooks))
