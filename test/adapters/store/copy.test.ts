// Copying ledgers between stores: parsing the store URIs the CLI takes, and copies that keep every
// record's bytes, resume after an interruption and verify the result.
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Either, Fiber, Layer } from "effect"
import { copyStore, parseStoreUri } from "../../../src/adapters/store/copy.js"
import { EventStore } from "../../../src/adapters/store/event-store.js"
import { SqliteStoreLive } from "../../../src/adapters/store/sqlite/sqlite-store.js"
import { ledgerFile, removeDir, tempDir, writeEvents } from "../../support/ledger-fixture.js"
import { rawBodies, sqliteWithWriters } from "./esdb-fixture.js"

describe("parseStoreUri", () => {
  it("reads sqlite paths and EventStoreDB connection strings", () => {
    expect(parseStoreUri("sqlite:/var/lib/hv/ledger.db")).toEqual(Either.right({ kind: "sqlite", file: "/var/lib/hv/ledger.db" }))
    expect(parseStoreUri("sqlite:///var/lib/hv/ledger.db")).toEqual(Either.right({ kind: "sqlite", file: "/var/lib/hv/ledger.db" }))
    expect(parseStoreUri("sqlite:ledger.db")).toEqual(Either.right({ kind: "sqlite", file: "ledger.db" }))
    expect(parseStoreUri("esdb://localhost:2113?tls=false")).toEqual(Either.right({ kind: "eventstoredb", connection: "esdb://localhost:2113?tls=false" }))
    expect(parseStoreUri("esdb+discover://admin:changeit@cluster.local:2113")).toEqual(
      Either.right({ kind: "eventstoredb", connection: "esdb+discover://admin:changeit@cluster.local:2113" })
    )
  })

  it("refuses anything else with a message naming the accepted forms", () => {
    for (const bad of ["sqlite:", "esdb://", "postgres://db/ledger", "/var/lib/hv/ledger.db", ""]) {
      const parsed = parseStoreUri(bad)
      expect(Either.isLeft(parsed)).toBe(true)
      if (Either.isLeft(parsed)) expect(parsed.left.message).toContain("expected sqlite:PATH or esdb://")
    }
  })
})

const open = (file: string) => Effect.map(Layer.build(SqliteStoreLive({ file })), (ctx) => Context.get(ctx, EventStore))

describe("copyStore", () => {
  it.live("copies two writers' ledgers record for record, and the copy verifies", () =>
    Effect.gen(function* () {
      const dir = tempDir("hv-copy-")
      yield* sqliteWithWriters(`${dir}/from.db`, [60, 77])
      const from = yield* open(`${dir}/from.db`)
      const to = yield* open(`${dir}/to.db`)
      const progress: Array<number> = []
      const report = yield* copyStore(from, to, { onProgress: (p) => progress.push(p.copied) })
      expect(report.verification.ok).toBe(true)
      expect(report.verification.writers.length).toBe(2)
      expect(report.skipped).toBe(0)
      const bodies = yield* rawBodies(from)
      expect(report.copied).toBe(bodies.length)
      expect(yield* rawBodies(to)).toEqual(bodies)
      expect(progress[progress.length - 1]).toBe(bodies.length)
      removeDir(dir)
    }).pipe(Effect.scoped)
  )

  it.live("resumes an interrupted copy, skipping what is already there", () =>
    Effect.gen(function* () {
      const dir = tempDir("hv-copy-")
      const src = tempDir("hv-copy-src-")
      yield* writeEvents(src, 5_000, { checkpointEveryRecords: 500 }, 50)
      const from = yield* open(ledgerFile(src))
      const to = yield* open(`${dir}/to.db`)
      const firstChunk = yield* Deferred.make<void>()
      const run = yield* Effect.fork(copyStore(from, to, { onProgress: () => Effect.runSync(Deferred.succeed(firstChunk, undefined)) }))
      yield* Deferred.await(firstChunk)
      yield* Fiber.interrupt(run)
      const partial = (yield* rawBodies(to)).length
      expect(partial).toBeGreaterThan(0)
      const bodies = yield* rawBodies(from)
      expect(partial).toBeLessThan(bodies.length)
      const report = yield* copyStore(from, to)
      expect(report.skipped).toBe(partial)
      expect(report.copied).toBe(bodies.length - partial)
      expect(report.verification.ok).toBe(true)
      expect(yield* rawBodies(to)).toEqual(bodies)
      removeDir(dir)
      removeDir(src)
    }).pipe(Effect.scoped)
  )
})
