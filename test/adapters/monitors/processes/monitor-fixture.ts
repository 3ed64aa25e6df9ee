// Shared setup for the process monitor's tests: a real SQLite ledger, real bwrap sandboxes, the
// monitor started on them through the ledger sink, and the sandbox's observations read back and
// decoded with the event catalogue (a payload that does not decode fails the test).
import { Effect, Either, Layer, Stream } from "effect"
import type { Scope } from "effect"
import { expect } from "vitest"
import { Ledger } from "../../../../src/adapters/ledger/ledger.js"
import { ledgerSink } from "../../../../src/adapters/monitors/ledger-sink.js"
import type { RunningMonitor } from "../../../../src/adapters/monitors/monitor.js"
import type { ProcessMonitor } from "../../../../src/adapters/monitors/processes/process-monitor.js"
import { EventStore } from "../../../../src/adapters/store/event-store.js"
import { decodeEventData } from "../../../../src/domain/events/catalogue.js"
import { observationStream } from "../../../../src/domain/monitors/monitor-events.js"
import { ledgerLayer, removeDir, tempDir } from "../../../support/ledger-fixture.js"
import { dataDir, launchSandbox, testRunner, type TestSandbox } from "../../../runners/bwrap/sandbox-fixture.js"
import { monitorTargetOf } from "../monitor-target.js"

export interface Observation {
  readonly type: string
  readonly data: Record<string, unknown>
}

/** A fresh ledger in a temp dir, removed with the scope. */
export const ledgerScope = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.acquireRelease(Effect.sync(() => tempDir("hv-procmon-")), (dir) => Effect.sync(() => removeDir(dir))).pipe(
    Effect.flatMap((dir) => Effect.provide(effect, Layer.fresh(ledgerLayer(dir))))
  )

export const sandboxes = (count: number, label: string): Effect.Effect<ReadonlyArray<TestSandbox>, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const runner = yield* testRunner
    const dir = yield* dataDir
    return yield* Effect.forEach(Array.from({ length: count }, (_, i) => `${label}${i}`), (name) => launchSandbox(runner, dir, name))
  })

export const watch = (monitor: ProcessMonitor, sandbox: TestSandbox): Effect.Effect<RunningMonitor, unknown, Scope.Scope | Ledger> =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    return yield* monitor.start(monitorTargetOf(sandbox), ledgerSink(ledger, sandbox.handle.id, "processes"))
  })

/** Every event of the sandbox's observations stream, decoded with the catalogue. */
export const observations = (sandboxId: string): Effect.Effect<ReadonlyArray<Observation>, unknown, EventStore> =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const records = yield* Stream.runCollect(store.readStream(observationStream(sandboxId)))
    return [...records].map(({ record }) => {
      const decoded = decodeEventData(record.type, record.data)
      if (Either.isLeft(decoded)) expect.fail(`${record.type} does not decode: ${decoded.left.message}`)
      return { type: record.type, data: decoded.right as Record<string, unknown> }
    })
  })

export const ofType = (events: ReadonlyArray<Observation>, type: string) => events.filter((e) => e.type === type)

export const argvOf = (event: Observation): ReadonlyArray<string> => event.data["argv"] as ReadonlyArray<string>

export const startsWith = (events: ReadonlyArray<Observation>, argv: ReadonlyArray<string>) =>
  ofType(events, "ProcessStarted").filter((e) => JSON.stringify(argvOf(e)) === JSON.stringify(argv))
