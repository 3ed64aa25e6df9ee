// The policy a sandbox gets, read from the ledger when it is needed: the `policy-<name>` stream of
// the name and of every policy it extends (built-ins end the chain). Policy streams are short (one
// record per version), so reading them per launch is cheap and never stale.
import { Effect, Either, Stream } from "effect"
import { decodeEventData } from "../../domain/events/catalogue.js"
import type { PolicyApplied } from "../../domain/policy/policy-events.js"
import { evolvePolicyState, policyStream, type PolicyState } from "../../domain/policy/policy-state.js"
import { resolvePolicy, type EffectivePolicy, type UnresolvablePolicy } from "../../domain/policy/resolve.js"
import type { EventStoreShape, StoreError } from "../store/event-store.js"

type Applied = (typeof PolicyApplied.schema)["Type"]

/** Policy state holding `name` and everything it extends, as far as the ledger has them. */
export const loadPolicyState = (store: EventStoreShape, name: string): Effect.Effect<PolicyState, StoreError> =>
  Effect.gen(function* () {
    let state: PolicyState = {}
    const seen = new Set<string>()
    let next: string | undefined = name
    while (next !== undefined && !seen.has(next)) {
      seen.add(next)
      const current: string = next
      yield* Stream.runForEach(store.readStream(policyStream(current)), ({ record }) =>
        Effect.sync(() => {
          if (record.type !== "PolicyApplied") return
          const decoded = decodeEventData(record.type, record.data)
          if (Either.isLeft(decoded)) return
          const d = decoded.right as Applied
          state = evolvePolicyState(state, { name: d.name, version: d.version, contentHash: d.contentHash, document: d.document, source: d.source, recordId: record.id, at: record.at })
        })
      )
      next = state[current]?.current.document.extends
    }
    return state
  })

export const lookupPolicy = (store: EventStoreShape, name: string): Effect.Effect<Either.Either<EffectivePolicy, UnresolvablePolicy>, StoreError> =>
  Effect.map(loadPolicyState(store, name), (state) => resolvePolicy(name, state))
