import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream, Chunk } from "effect"
import { Ledger } from "../../../src/adapters/ledger/ledger.js"
import { verifyLedger } from "../../../src/adapters/ledger/verify.js"
import { EventStore } from "../../../src/adapters/store/event-store.js"
import { ledgerLayer, readOnlyStore, removeDir, tempDir, writeEvents } from "../../support/ledger-fixture.js"

describe("Ledger", () => {
  it.effect("starts a chain with WriterKeyRegistered and chains every record after it", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      yield* writeEvents(dir, 50, { checkpointEveryRecords: 10 })
      const records = yield* Effect.gen(function* () {
        const store = yield* EventStore
        return Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAll()))
      }).pipe(Effect.provide(readOnlyStore(dir)), Effect.scoped)
      expect(records[0]!.record.type).toBe("WriterKeyRegistered")
      records.forEach((r, i) => expect(r.record.chain.seq).toBe(i))
      expect(records.filter((r) => r.record.type === "Checkpoint").length).toBeGreaterThanOrEqual(5)
      removeDir(dir)
    })
  )

  it.effect("recovers its head after a restart and keeps one gap-free chain", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      yield* writeEvents(dir, 20)
      yield* writeEvents(dir, 20)
      for (const mode of ["fast", "full"] as const) {
        const report = yield* Effect.flatMap(EventStore, (s) => verifyLedger(s, { mode })).pipe(Effect.provide(readOnlyStore(dir)), Effect.scoped)
        expect(report.ok).toBe(true)
        expect(report.records).toBe(43) // 40 events, the key registration, a checkpoint at each shutdown
      }
      removeDir(dir)
    })
  )

  it.effect("rejects an append at a wrong expected revision and consumes no seq", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const result = yield* Effect.gen(function* () {
        const ledger = yield* Ledger
        yield* ledger.append("sandbox-a", [{ type: "SandboxLaunched", data: {} }], { actor: { kind: "operator", id: "t" }, expected: "no_stream" })
        const wrong = yield* Effect.either(ledger.append("sandbox-a", [{ type: "SandboxStopped", data: {} }], { actor: { kind: "operator", id: "t" }, expected: "no_stream" }))
        const head = yield* ledger.head
        return { wrong, head }
      }).pipe(Effect.provide(ledgerLayer(dir)), Effect.scoped)
      expect(result.wrong._tag).toBe("Left")
      expect(result.head.seq).toBe(1)
      removeDir(dir)
    })
  )
})
