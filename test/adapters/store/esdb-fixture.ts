// Ledgers over the EventStoreDB adapter, for tests that need real writers: the same wiring as
// test/support/ledger-fixture.ts, with the adapter connected to a given server (usually the double).
import { Chunk, Effect, Layer, Stream } from "effect"
import { Ledger, LedgerLive, type LedgerOptions } from "../../../src/adapters/ledger/ledger.js"
import { EventStore } from "../../../src/adapters/store/event-store.js"
import { EventStoreDbStoreLive, type EventStoreDbOptions } from "../../../src/adapters/store/eventstoredb/eventstoredb-store.js"

export const esdbLedgerLayer = (dataDir: string, store: EventStoreDbOptions, options: Partial<LedgerOptions> = {}) => {
  const storeLayer = EventStoreDbStoreLive(store)
  return Layer.merge(storeLayer, LedgerLive({ dataDir, ...options }).pipe(Layer.provide(storeLayer)))
}

/** `count` CommandExecuted events appended by `appenders` concurrent callers, spread over 7 streams. */
export const appendEvents = (count: number, appenders = 16, tag = "") =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    let next = 0
    const appender = Effect.gen(function* () {
      while (next < count) {
        const i = next++
        yield* ledger.append(
          `sandbox-${tag}s${i % 7}`,
          [{ type: "CommandExecuted", data: { argv: ["echo", String(i)], exitCode: 0 }, sensitive: ["argv"] }],
          { actor: { kind: "agent", id: `agent-${tag}` } }
        )
      }
    })
    yield* Effect.all(Array.from({ length: appenders }, () => appender), { concurrency: "unbounded", discard: true })
  })

export const allRecords = Effect.flatMap(EventStore, (store) => Stream.runCollect(store.readAll())).pipe(Effect.map(Chunk.toReadonlyArray))

export const rawBodies = (store: EventStore["Type"]) =>
  Stream.runCollect(store.readAllRaw()).pipe(Effect.map((chunks) => Chunk.toReadonlyArray(chunks).flat().map((r) => r.body)))
