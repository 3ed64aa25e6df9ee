// The monitor port: what the daemon hands a monitor about a sandbox, and how a monitor hands its
// observations back. A monitor is started per sandbox once the sandbox runs and stopped (its scope
// closed) when the sandbox stops; it appends through an `ObservationSink`, never to the ledger
// directly, so the daemon decides the stream, the actor and what the policy engine sees.
import { Data } from "effect"
import type { Effect, Scope } from "effect"
import type { LedgerRecord } from "../../domain/ledger/record.js"
import type { NewEvent } from "../../domain/ledger/event-definition.js"
import type { MonitorKind } from "../../domain/monitors/monitor-events.js"
import type { Network } from "../../domain/sandbox/template.js"

/** What a monitor needs to know about one running sandbox. */
export interface MonitorTarget {
  readonly sandboxId: string
  /** Which runner runs it (`bwrap`, `containerd`). */
  readonly runner: string
  /** Host directory mounted at /workspace inside the sandbox. */
  readonly workspaceDir: string
  /** Host directory for this sandbox's monitor state (created if missing); never visible inside. */
  readonly stateDir: string
  /** The sandbox's tracking cgroup v2 directory (every process of the sandbox is in it or below it). */
  readonly cgroup: string
  /** Host pid of the sandbox's first process: its namespaces (pid, net, mnt) are the sandbox's. */
  readonly pid: number
  /** The sandbox's network mode and allowlist (template, narrowed by policy). */
  readonly network: Network
  /** The sandbox's `network_mbps`, each way (template, narrowed by policy); absent: no limit. */
  readonly networkMbps?: number
}

/**
 * Appends observation events (types from `domain/monitors/monitor-events.ts`) to the sandbox's
 * observations stream, in order; resolves once they are durable. Monitors batch where they can.
 */
export interface ObservationSink {
  readonly append: (events: ReadonlyArray<NewEvent>) => Effect.Effect<ReadonlyArray<LedgerRecord>, MonitorSinkError>
}

export class MonitorSinkError extends Data.TaggedError("MonitorSinkError")<{ readonly reason: string }> {
  override get message() {
    return `could not record observations: ${this.reason}`
  }
}

/** A monitor could not start (missing tool, no permission, unsupported host). */
export class MonitorUnavailable extends Data.TaggedError("MonitorUnavailable")<{
  readonly monitor: MonitorKind
  readonly reason: string
}> {
  override get message() {
    return `${this.monitor} monitor unavailable: ${this.reason}`
  }
}

/** A running monitor; closing the scope it was started in stops it (after flushing what it holds). */
export interface RunningMonitor {
  readonly kind: MonitorKind
  /** Resolves once every observation made so far is handed to the sink (for tests and clean stops). */
  readonly flush: Effect.Effect<void>
  /** Observations appended so far. */
  readonly observed: Effect.Effect<number>
}

export interface Monitor {
  readonly kind: MonitorKind
  readonly start: (target: MonitorTarget, sink: ObservationSink) => Effect.Effect<RunningMonitor, MonitorUnavailable, Scope.Scope>
}
