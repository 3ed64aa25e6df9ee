// Policy state as a projection over a real SQLite ledger: folding each PolicyApplied record as it is
// appended gives the same state as rebuilding from the whole store, and an identical document adds
// no record.
import { Chunk, Effect, Stream } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { Ledger } from "../../src/adapters/ledger/ledger.js"
import { applyPolicy, readPolicies } from "../../src/adapters/policy/policy-store.js"
import { EventStore } from "../../src/adapters/store/event-store.js"
import { contentHashOf } from "../../src/domain/policy/policy-state.js"
import { applyPolicyRecord, emptyPolicies } from "../../src/projections/policies.js"
import * as arb from "../arbitraries/policy.js"
import { ledgerLayer, removeDir, tempDir } from "../support/ledger-fixture.js"

const operator = { kind: "operator" as const, id: "tester" }

describe("policies projection", () => {
  it("rebuilding from the ledger equals folding each applied record as it is appended", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arb.policyDocument(), { minLength: 1, maxLength: 6 }), async (documents) => {
        const dir = tempDir("hv-policies-")
        try {
          const { incremental, rebuilt, applied } = await Effect.gen(function* () {
            const ledger = yield* Ledger
            const store = yield* EventStore
            let incremental = emptyPolicies
            let applied = 0
            for (const document of documents) {
              const outcome = yield* applyPolicy(ledger, store, document, "test.yaml", operator)
              if (outcome._tag === "Unchanged") {
                expect(incremental.state[document.name]?.current.contentHash).toBe(contentHashOf(document))
                continue
              }
              applied++
              const last = Chunk.last(yield* Stream.runCollect(store.readStream(`policy-${document.name}`)))
              if (last._tag === "None") throw new Error("no record after apply")
              expect(last.value.record.id).toBe(outcome.recordId)
              incremental = applyPolicyRecord(incremental, last.value.record)
            }
            return { incremental, rebuilt: yield* readPolicies(store), applied }
          }).pipe(Effect.provide(ledgerLayer(dir)), Effect.scoped, Effect.runPromise)
          expect(rebuilt).toEqual(incremental)
          expect(rebuilt.problems).toEqual([])
          const versions = Object.values(rebuilt.state).flatMap((h) => h.versions)
          expect(versions.length).toBe(applied)
          for (const history of Object.values(rebuilt.state)) expect(history.versions.map((v) => v.version)).toEqual(history.versions.map((_, i) => i + 1))
        } finally {
          removeDir(dir)
        }
      }),
      { numRuns: 12 }
    )
  })
})
