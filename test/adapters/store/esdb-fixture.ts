// Ledgers for the store tests: over the EventStoreDB adapter (the wiring of test/support/ledger-fixture.ts
// with the adapter connected to a given server, usually the double), and sqlite ledgers of several writers.
import { Chunk, Context, Effect, Layer, Stream } from "effect"
import { Ledger, LedgerLive, type LedgerOptions } from "../../../src/adapters/ledger/ledger.js"
import { EventStore } from "../../../src/adapters/store/event-store.js"
import { EsdbBlobStore, EventStoreDbStoreLive, type EventStoreDbOptions } from "../../../src/adapters/store/eventstoredb/eventstoredb-store.js"
import { SqliteStoreLive } from "../../../src/adapters/store/sqlite/sqlite-store.js"
import { removeDir, tempDir } from "../../support/ledger-fixture.js"

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

/** The adapter's EventStore, open for the rest of the enclosing scope. */
export const openEsdbStore = (options: EventStoreDbOptions) =>
  Effect.map(Layer.build(EventStoreDbStoreLive(options)), (ctx) => Context.get(ctx, EventStore))

/** One sqlite ledger written by several writers (one data dir each), `counts[k]` events by writer k. */
export const sqliteWithWriters = (file: string, counts: ReadonlyArray<number>) =>
  Effect.gen(function* () {
    const store = SqliteStoreLive({ file })
    for (const count of counts) {
      const dataDir = tempDir("hv-writer-")
      yield* Effect.gen(function* () {
        const ledger = yield* Ledger
        for (let i = 0; i < count; i += 4)
          yield* ledger.append(
            `sandbox-${i % 5}`,
            Array.from({ length: Math.min(4, count - i) }, (_, j) => ({ type: "CommandExecuted", data: { argv: ["make", String(i + j)] }, sensitive: ["argv"] })),
            { actor: { kind: "agent", id: "a" } }
          )
      }).pipe(Effect.provide(Layer.merge(store, LedgerLive({ dataDir, checkpointEveryRecords: 100 }).pipe(Layer.provide(store)))), Effect.scoped)
      removeDir(dataDir)
    }
  })

/** The adapter's blob store, open for the rest of the enclosing scope. */
export const openEsdbBlobs = (options: EventStoreDbOptions) =>
  Effect.map(Layer.build(EventStoreDbStoreLive(options)), (ctx) => ({ store: Context.get(ctx, EventStore), blobs: Context.get(ctx, EsdbBlobStore) }))
