// Migration through the EventStoreDB adapter: sqlite -> EventStoreDB (the protocol double) -> sqlite
// keeps every record's bytes, and each copy verifies.
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { copyStore } from "../../src/adapters/store/copy.js"
import { EventStore } from "../../src/adapters/store/event-store.js"
import { SqliteStoreLive } from "../../src/adapters/store/sqlite/sqlite-store.js"
import { openEsdbStore, rawBodies, sqliteWithWriters } from "../adapters/store/esdb-fixture.js"
import { removeDir, tempDir } from "../support/ledger-fixture.js"
import { esdbDouble } from "./esdb-double/esdb-double.js"

const openSqlite = (file: string) => Effect.map(Layer.build(SqliteStoreLive({ file })), (ctx) => Context.get(ctx, EventStore))

describe("copyStore through the EventStoreDB adapter (protocol double)", () => {
  it.live("copies sqlite to EventStoreDB and back with every record byte-identical, each copy verifying", () =>
    Effect.gen(function* () {
      const dir = tempDir("hv-copy-")
      yield* sqliteWithWriters(`${dir}/from.db`, [600, 350])
      const double = yield* esdbDouble()
      const source = yield* openSqlite(`${dir}/from.db`)
      const esdb = yield* openEsdbStore({ connection: double.connection })
      const back = yield* openSqlite(`${dir}/back.db`)
      const out = yield* copyStore(source, esdb)
      expect(out.verification.ok).toBe(true)
      const there = yield* copyStore(esdb, back)
      expect(there.verification.ok).toBe(true)
      expect(there.verification.writers.length).toBe(2)
      const original = yield* rawBodies(source)
      expect(out.copied).toBe(original.length)
      expect(yield* rawBodies(esdb)).toEqual(original)
      expect(yield* rawBodies(back)).toEqual(original)
      const again = yield* copyStore(source, esdb)
      expect(again).toMatchObject({ copied: 0, skipped: original.length })
      removeDir(dir)
    }).pipe(Effect.scoped)
  )
})
