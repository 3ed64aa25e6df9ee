// The observation writer's batch window: what is pushed within it goes to the sink in one append;
// without a window each push that finds the writer idle is appended on its own.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { NewEvent } from "../../../../src/domain/ledger/event-definition.js"
import type { ObservationSink } from "../../../../src/adapters/monitors/monitor.js"
import { makeObservationWriter } from "../../../../src/adapters/monitors/processes/observation-writer.js"

const recordingSink = () => {
  const appends: Array<ReadonlyArray<NewEvent>> = []
  const sink: ObservationSink = { append: (events) => Effect.sync(() => (appends.push(events), [])) }
  return { sink, appends }
}

const started = (pid: number): NewEvent => ({ type: "ProcessStarted", data: { sandboxId: "s", pid } })

const pushSpread = (push: (events: ReadonlyArray<NewEvent>) => void, count: number, gapMs: number) =>
  Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) => Effect.zipRight(Effect.sleep(i === 0 ? 0 : gapMs), Effect.sync(() => push([started(i)]))), { discard: true })

/** A writer over a recording sink, with the given batch window (and batch size). */
const writerWith = (batchWindowMs: number, maxBatch?: number) =>
  Effect.gen(function* () {
    const { sink, appends } = recordingSink()
    const writer = yield* makeObservationWriter(sink, {
      sandboxId: "s",
      monitor: "processes",
      iso: () => new Date().toISOString(),
      batchWindowMs,
      ...(maxBatch !== undefined ? { maxBatch } : {})
    })
    return { writer, appends }
  })

describe("Observation writer", () => {
  it.live("appends what arrives within the batch window in one call", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { writer, appends } = yield* writerWith(200)
        yield* pushSpread(writer.push, 3, 5)
        yield* writer.drain
        expect(appends.map((a) => a.length)).toEqual([3])
        expect(writer.observed()).toBe(3)
      })
    )
  )

  it.live("without a window, appends a push that finds the writer idle on its own", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { writer, appends } = yield* writerWith(0)
        yield* pushSpread(writer.push, 3, 50)
        yield* writer.drain
        expect(appends.map((a) => a.length)).toEqual([1, 1, 1])
      })
    )
  )

  it.live("does not wait out the window while a whole batch is waiting", () =>
    Effect.scoped(
      Effect.gen(function* () {
        const { writer, appends } = yield* writerWith(60_000, 2)
        writer.push([started(0), started(1), started(2), started(3), started(4)])
        yield* Effect.sleep(200)
        expect(appends.map((a) => a.length)).toEqual([2, 2])
      })
    )
  )
})
