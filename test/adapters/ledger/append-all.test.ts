import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { Ledger } from "../../../src/adapters/ledger/ledger.js"
import { verifyLedger } from "../../../src/adapters/ledger/verify.js"
import { EventStore } from "../../../src/adapters/store/event-store.js"
import { ledgerLayer, readOnlyStore, removeDir, tempDir } from "../../support/ledger-fixture.js"

const actor = { kind: "operator" as const, id: "t" }

const storedTypes = (dir: string) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    return Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAll())).map((r) => `${r.record.stream}:${r.record.revision}:${r.record.type}`)
  }).pipe(Effect.provide(readOnlyStore(dir)), Effect.scoped)

describe("Ledger.appendAll", () => {
  it.effect("appends every part, each at its stream's next revision, as one run of the chain", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const parts = yield* Effect.gen(function* () {
        const ledger = yield* Ledger
        yield* ledger.append("sandbox-a", [{ type: "SandboxRequested", data: {} }], { actor })
        return yield* ledger.appendAll([
          { stream: "sandbox-a", events: [{ type: "CommandExecuted", data: { n: 1 } }], options: { actor, expected: 0 } },
          { stream: "agent-x", events: [{ type: "ToolCalled", data: {} }, { type: "ToolCalled", data: {} }], options: { actor, expected: "no_stream" } },
          { stream: "agent-y", events: [], options: { actor } },
          // a second part on a stream already in the group is checked as if the first were in
          { stream: "sandbox-a", events: [{ type: "CommandExecuted", data: { n: 2 } }], options: { actor, expected: 1 } }
        ])
      }).pipe(Effect.provide(ledgerLayer(dir)), Effect.scoped)
      expect(parts.map((p) => p.map((r) => `${r.stream}:${r.revision}`))).toEqual([["sandbox-a:1"], ["agent-x:0", "agent-x:1"], [], ["sandbox-a:2"]])
      const seqs = parts.flat().map((r) => r.chain.seq)
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i))
      expect(yield* storedTypes(dir)).toEqual(
        expect.arrayContaining(["sandbox-a:1:CommandExecuted", "agent-x:0:ToolCalled", "agent-x:1:ToolCalled", "sandbox-a:2:CommandExecuted"])
      )
      const report = yield* Effect.flatMap(EventStore, (s) => verifyLedger(s, { mode: "full" })).pipe(Effect.provide(readOnlyStore(dir)), Effect.scoped)
      expect(report.ok).toBe(true)
      removeDir(dir)
    })
  )

  it.effect("refuses the whole group when one part's expected revision is wrong, and stamps nothing", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const result = yield* Effect.gen(function* () {
        const ledger = yield* Ledger
        yield* ledger.append("sandbox-a", [{ type: "SandboxRequested", data: {} }], { actor })
        const before = yield* ledger.head
        const refused = yield* Effect.either(
          ledger.appendAll([
            { stream: "agent-x", events: [{ type: "ToolCalled", data: {} }], options: { actor } },
            { stream: "sandbox-a", events: [{ type: "CommandExecuted", data: {} }], options: { actor, expected: "no_stream" } }
          ])
        )
        const after = yield* ledger.head
        // the ledger goes on: the next append takes the next seq
        const next = yield* ledger.append("agent-x", [{ type: "ToolCalled", data: {} }], { actor, expected: "no_stream" })
        return { before, after, refused, next }
      }).pipe(Effect.provide(ledgerLayer(dir)), Effect.scoped)
      expect(result.refused._tag).toBe("Left")
      if (result.refused._tag === "Left") expect(result.refused.left._tag).toBe("WrongExpectedRevision")
      expect(result.after).toEqual(result.before)
      expect(result.next[0]!.chain.seq).toBe(result.before.seq + 1)
      expect((yield* storedTypes(dir)).filter((t) => t.startsWith("agent-x"))).toEqual(["agent-x:0:ToolCalled"])
      removeDir(dir)
    })
  )

  it.effect("keeps a group's records together while single appends race it", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const { group, singles } = yield* Effect.gen(function* () {
        const ledger = yield* Ledger
        const singles = Effect.forEach(Array.from({ length: 40 }, (_, i) => i), (i) => ledger.append(`s-${i % 4}`, [{ type: "X", data: { i } }], { actor }), { concurrency: "unbounded" })
        const group = ledger.appendAll(
          Array.from({ length: 5 }, (_, i) => ({ stream: `g-${i}`, events: [{ type: "Y", data: { i } }, { type: "Y", data: { i } }], options: { actor } }))
        )
        const [g, s] = yield* Effect.all([group, singles], { concurrency: "unbounded" })
        return { group: g, singles: s }
      }).pipe(Effect.provide(ledgerLayer(dir)), Effect.scoped)
      const seqs = group.flat().map((r) => r.chain.seq)
      expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i))
      expect(singles.flat().length).toBe(40)
      removeDir(dir)
    })
  )
})
