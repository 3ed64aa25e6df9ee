// Batches a monitor's observations to its sink: producers push synchronously (from bpftrace's output
// callback), one fiber appends everything waiting in one call, so a burst costs one commit. The first
// push opens a batch window (10 ms): an exec's processes starting and exiting arrive in several reads
// of bpftrace's output, and go in one append after the window instead of one each, while the exec's
// own records are being written (docs/decisions.md).
// A full buffer or a failed append becomes a MonitorGap with the count lost, never silence.
import { Effect, Fiber } from "effect"
import type { Scope } from "effect"
import type { NewEvent } from "../../../domain/ledger/event-definition.js"
import { MonitorGap, type MonitorKind } from "../../../domain/monitors/monitor-events.js"
import type { ObservationSink } from "../monitor.js"

export interface ObservationWriter {
  readonly push: (events: ReadonlyArray<NewEvent>) => void
  /** Resolves once everything pushed before the call was handed to the sink. */
  readonly drain: Effect.Effect<void>
  /** Observation events (not MonitorStarted/Stopped/Gap) appended so far. */
  readonly observed: () => number
}

export interface ObservationWriterOptions {
  readonly sandboxId: string
  readonly monitor: MonitorKind
  readonly iso: () => string
  readonly maxBuffered?: number
  readonly maxBatch?: number
  /** How long the writer gathers after the first push before it appends (default 10 ms). */
  readonly batchWindowMs?: number
}

const COVERAGE = new Set(["MonitorStarted", "MonitorStopped", "MonitorGap"])

/** Starts the writer fiber; it is interrupted with the scope, after the caller's own drain. */
export const makeObservationWriter = (
  sink: ObservationSink,
  options: ObservationWriterOptions
): Effect.Effect<ObservationWriter, never, Scope.Scope> =>
  Effect.gen(function* () {
    const maxBuffered = options.maxBuffered ?? 200_000
    const maxBatch = options.maxBatch ?? 4_000
    const window = options.batchWindowMs ?? 10
    const wake = yield* Effect.makeLatch(false)
    let buffer: Array<NewEvent> = []
    let pushed = 0
    let written = 0
    let observed = 0
    let dropped = 0
    let droppedSince: string | null = null
    let lostReason = ""

    const push = (events: ReadonlyArray<NewEvent>) => {
      if (events.length === 0) return
      if (buffer.length + events.length > maxBuffered) {
        dropped += events.filter((e) => !COVERAGE.has(e.type)).length
        droppedSince ??= options.iso()
        lostReason = `observation buffer full (${maxBuffered} events): the sink fell behind`
      } else {
        buffer.push(...events)
        pushed += events.length
      }
      wake.unsafeOpen()
    }

    const gapFor = (lost: number, from: string, reason: string): NewEvent => ({
      type: MonitorGap.type,
      data: { sandboxId: options.sandboxId, monitor: options.monitor, reason, lost, from, to: options.iso() }
    })

    const writeOnce = Effect.gen(function* () {
      yield* wake.await
      // gathering is pointless once a whole batch waits (a burst): append at once
      if (window > 0 && buffer.length < maxBatch) yield* Effect.sleep(window)
      yield* wake.close
      const taken = buffer.slice(0, maxBatch)
      buffer = buffer.slice(taken.length)
      if (buffer.length > 0) wake.unsafeOpen()
      const batch = dropped > 0 ? [gapFor(dropped, droppedSince ?? options.iso(), lostReason), ...taken] : taken
      dropped = 0
      droppedSince = null
      const from = options.iso()
      const result = yield* Effect.either(sink.append(batch))
      written += taken.length
      const observations = batch.filter((e) => !COVERAGE.has(e.type)).length
      if (result._tag === "Right") {
        observed += observations
        return
      }
      dropped += observations
      droppedSince ??= from
      lostReason = `${result.left.message}`
      wake.unsafeOpen()
      yield* Effect.sleep("100 millis")
    })

    const fiber = yield* Effect.forkScoped(Effect.forever(writeOnce))
    yield* Effect.addFinalizer(() => Fiber.interrupt(fiber))

    const drain = Effect.suspend(() => {
      const target = pushed
      const settled = () => buffer.length === 0 && written >= target
      return Effect.gen(function* () {
        while (!settled()) yield* Effect.sleep("5 millis")
      })
    })

    return { push, drain, observed: () => observed }
  })
