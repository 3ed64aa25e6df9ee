import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Exit, Stream } from "effect"
import { EventStore } from "../../src/adapters/store/event-store.js"
import { SqliteStoreLive } from "../../src/adapters/store/sqlite/sqlite-store.js"
import { tempDir } from "../support/ledger-fixture.js"
import { newWriter, nextRecord } from "../support/record-builder.js"
import { storeConformance } from "./conformance.js"

const fresh = () => SqliteStoreLive({ file: `${tempDir("hv-store-")}/ledger.db`, pollMillis: 20 })

storeConformance("sqlite", fresh)

describe("SQLite store", () => {
  // The ledger's writer has already gathered what waits into one appendMany: a tick more would only delay it.
  it.effect("commits an appendMany at once, without waiting for the event loop, together with single appends already queued", () =>
    Effect.gen(function* () {
      const store = yield* EventStore
      const w = newWriter()
      const queued = yield* Effect.fork(store.append("sandbox-a", [nextRecord(w, "sandbox-a", "SandboxLaunched", {})], "no_stream"))
      yield* Effect.yieldNow()
      const many = store.appendMany!([{ stream: "sandbox-b", records: [nextRecord(w, "sandbox-b", "SandboxLaunched", {})], expected: "no_stream", durability: "immediate" }])
      const exit = Effect.runSyncExit(many)
      expect(Exit.isSuccess(exit)).toBe(true)
      const streams = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAll())).map((r) => r.record.stream)
      expect(streams).toEqual(["sandbox-a", "sandbox-b"])
      yield* queued
    }).pipe(Effect.provide(fresh()), Effect.scoped)
  )
})
