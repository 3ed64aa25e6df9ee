// The cached policy lookup (MCP's per-call path) answers exactly what reading the ledger afresh does,
// whatever is applied between lookups: a new version of a policy or of one it extends.
import { Effect } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { cachedPolicyLookup, lookupPolicy } from "../../../src/adapters/enforcement/policy-lookup.js"
import { Ledger } from "../../../src/adapters/ledger/ledger.js"
import { applyPolicy } from "../../../src/adapters/policy/policy-store.js"
import { EventStore } from "../../../src/adapters/store/event-store.js"
import * as arb from "../../arbitraries/policy.js"
import { ledgerLayer, removeDir, tempDir } from "../../support/ledger-fixture.js"

const operator = { kind: "operator" as const, id: "tester" }
const names = ["team-a", "ci", "lab", "restricted", "standard", "nope"]

// team-a may extend ci, ci may extend lab or a built-in: a change to lab must reach team-a's answer
const step = fc.oneof(
  { weight: 2, arbitrary: fc.record({ lookup: fc.constantFrom(...names) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      apply: fc.oneof(
        arb.policyDocument(fc.constant("team-a"), ["ci", "restricted"]),
        arb.policyDocument(fc.constant("ci"), ["lab", "standard"]),
        arb.policyDocument(fc.constant("lab"), ["permissive"])
      )
    })
  }
)

describe("cachedPolicyLookup", () => {
  it("always equals a fresh lookup, across applied versions of a policy and of its parents", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const dir = tempDir("hv-policy-cache-")
        try {
          await Effect.gen(function* () {
            const ledger = yield* Ledger
            const store = yield* EventStore
            const cached = cachedPolicyLookup(store)
            for (const s of steps) {
              if ("apply" in s) {
                yield* Effect.either(applyPolicy(ledger, store, s.apply, "test.yaml", operator))
                continue
              }
              expect(yield* cached(s.lookup)).toEqual(yield* lookupPolicy(store, s.lookup))
            }
          }).pipe(Effect.provide(ledgerLayer(dir)), Effect.scoped, Effect.runPromise)
        } finally {
          removeDir(dir)
        }
      }),
      { numRuns: 40 }
    )
  })
})
