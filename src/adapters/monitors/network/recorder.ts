// Batches a monitor's observations into the sink in order. Socket callbacks push synchronously; one
// fiber appends what waits every 50 ms. What cannot be kept (queue full) or appended (sink failed)
// is counted and reported as a MonitorGap with the next append that succeeds.
import { Effect } from "effect"
import type { Scope } from "effect"
import type { NewEvent } from "../../../domain/ledger/event-definition.js"
import { MonitorGap } from "../../../domain/monitors/monitor-events.js"
import type { MonitorKind } from "../../../domain/monitors/monitor-events.js"
import type { ObservationSink } from "../monitor.js"

export interface Recorder {
  /** Queues one observation; never blocks (a full queue counts it as lost). */
  readonly push: (event: NewEvent) => void
  /** Appends everything queued so far (in order); a failed append becomes a gap, not an error. */
  readonly drain: Effect.Effect<void>
  /** Starts the background appender in the scope. */
  readonly run: Effect.Effect<void, never, Scope.Scope>
  readonly observed: () => number
}

export const makeRecorder = (
  sink: ObservationSink,
  target: { readonly sandboxId: string; readonly monitor: MonitorKind },
  options: { readonly capacity?: number; readonly maxBatch?: number } = {}
): Effect.Effect<Recorder> =>
  Effect.gen(function* () {
    const capacity = options.capacity ?? 10_000
    const maxBatch = options.maxBatch ?? 500
    const pending: Array<NewEvent> = []
    let observed = 0
    let gap: { lost: number; from: string; reasons: Set<string> } | null = null
    const lose = (count: number, reason: string) => {
      gap ??= { lost: 0, from: new Date().toISOString(), reasons: new Set() }
      gap.lost += count
      gap.reasons.add(reason)
    }
    const lock = yield* Effect.makeSemaphore(1)

    const appendOnce = Effect.gen(function* () {
      const batch = pending.splice(0, maxBatch)
      const open = gap
      const events: Array<NewEvent> =
        open === null
          ? batch
          : [
              {
                type: MonitorGap.type,
                data: { sandboxId: target.sandboxId, monitor: target.monitor, reason: [...open.reasons].join("; "), lost: open.lost, from: open.from, to: new Date().toISOString() }
              },
              ...batch
            ]
      if (events.length === 0) return false
      gap = null
      const result = yield* Effect.either(sink.append(events))
      if (result._tag === "Right") {
        observed += batch.length
        return pending.length > 0
      }
      if (open !== null) {
        gap = open
      }
      lose(batch.length, `could not append observations: ${result.left.reason}`)
      return false
    })

    const drain = lock.withPermits(1)(
      Effect.gen(function* () {
        while (yield* appendOnce) {
          // keep going while a full batch was appended and more wait
        }
      })
    )

    return {
      push: (event) => {
        if (pending.length >= capacity) lose(1, `observation queue full (${capacity})`)
        else pending.push(event)
      },
      drain,
      run: Effect.asVoid(Effect.forkScoped(Effect.forever(Effect.zipRight(drain, Effect.sleep("50 millis"))))),
      observed: () => observed
    }
  })
