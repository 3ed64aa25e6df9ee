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
  Effect.map(loadPolicyChain(store, name), (chain) => chain.state)

/** The policy state and, for every policy stream read, its revision then (null: no such stream). */
const loadPolicyChain = (store: EventStoreShape, name: string) =>
  Effect.gen(function* () {
    let state: PolicyState = {}
    const revisions: Array<readonly [string, number | null]> = []
    const seen = new Set<string>()
    let next: string | undefined = name
    while (next !== undefined && !seen.has(next)) {
      seen.add(next)
      const current: string = next
      let revision: number | null = null
      yield* Stream.runForEach(store.readStream(policyStream(current)), ({ record }) =>
        Effect.sync(() => {
          revision = record.revision
          if (record.type !== "PolicyApplied") return
          const decoded = decodeEventData(record.type, record.data)
          if (Either.isLeft(decoded)) return
          const d = decoded.right as Applied
          state = evolvePolicyState(state, { name: d.name, version: d.version, contentHash: d.contentHash, document: d.document, source: d.source, recordId: record.id, at: record.at })
        })
      )
      revisions.push([policyStream(current), revision])
      next = state[current]?.current.document.extends
    }
    return { state, revisions }
  })

export type PolicyLookup = (name: string) => Effect.Effect<Either.Either<EffectivePolicy, UnresolvablePolicy>, StoreError>

export const lookupPolicy = (store: EventStoreShape, name: string): Effect.Effect<Either.Either<EffectivePolicy, UnresolvablePolicy>, StoreError> =>
  Effect.map(loadPolicyState(store, name), (state) => resolvePolicy(name, state))

/**
 * `lookupPolicy` for a hot path (every MCP call): the resolved policy is kept and served again while
 * every stream it was read from is still at the revision it had, which costs one indexed read per
 * stream instead of reading and resolving the chain. A policy applied since, by this daemon or by
 * another host on a shared store, moves a revision and is read afresh.
 */
export const cachedPolicyLookup = (store: EventStoreShape): PolicyLookup => {
  const cache = new Map<string, { readonly revisions: ReadonlyArray<readonly [string, number | null]>; readonly result: Either.Either<EffectivePolicy, UnresolvablePolicy> }>()
  return (name) =>
    Effect.gen(function* () {
      const hit = cache.get(name)
      if (hit !== undefined) {
        let fresh = true
        for (const [stream, revision] of hit.revisions) {
          if ((yield* store.streamRevision(stream)) !== revision) {
            fresh = false
            break
          }
        }
        if (fresh) return hit.result
      }
      const { state, revisions } = yield* loadPolicyChain(store, name)
      const result = resolvePolicy(name, state)
      cache.set(name, { revisions, result })
      return result
    })
}
