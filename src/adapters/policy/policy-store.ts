// Policies in the ledger: the current policy state read from the store, and applying a document as
// a `PolicyApplied` event on `policy-<name>` — a no-op when the content hash is unchanged. The CLI
// calls this with its own writer, the daemon with its writer when it holds the data dir.
import { Data, Effect, Either, ParseResult, Schema, Stream } from "effect"
import { PolicyApplied } from "../../domain/policy/policy-events.js"
import { PolicyDocument } from "../../domain/policy/policy-document.js"
import { planApply, policyStream, type AppliedPolicy } from "../../domain/policy/policy-state.js"
import { resolveDocument, type UnresolvablePolicy } from "../../domain/policy/resolve.js"
import type { Actor } from "../../domain/ledger/record.js"
import { applyPolicyRecord, emptyPolicies, type PoliciesModel } from "../../projections/policies.js"
import type { LedgerShape } from "../ledger/ledger.js"
import type { EventStoreShape } from "../store/event-store.js"

export class PolicyRejected extends Data.TaggedError("PolicyRejected")<{ readonly name: string; readonly reason: string }> {
  override get message() {
    return `policy ${this.name}: ${this.reason}`
  }
}

/** Every PolicyApplied record of the store, folded. */
export const readPolicies = (store: EventStoreShape) =>
  store.readAll().pipe(
    Stream.filter(({ record }) => record.type === PolicyApplied.type),
    Stream.runFold(emptyPolicies, (model: PoliciesModel, { record }) => applyPolicyRecord(model, record))
  )

export type ApplyOutcome =
  | { readonly _tag: "Unchanged"; readonly current: AppliedPolicy }
  | { readonly _tag: "Applied"; readonly name: string; readonly version: number; readonly contentHash: string; readonly recordId: string; readonly previousVersion: number | null }

export const applyPolicy = (ledger: LedgerShape, store: EventStoreShape, document: PolicyDocument, source: string, actor: Actor) =>
  Effect.gen(function* () {
    const { state } = yield* readPolicies(store)
    const resolved = resolveDocument(document, state)
    if (Either.isLeft(resolved)) {
      const error: UnresolvablePolicy = resolved.left
      return yield* new PolicyRejected({ name: document.name, reason: error.message })
    }
    const plan = planApply(state, document)
    if (plan._tag === "Unchanged") return plan satisfies ApplyOutcome
    const [record] = yield* ledger.append(
      policyStream(document.name),
      [{ type: PolicyApplied.type, data: { name: document.name, version: plan.version, contentHash: plan.contentHash, document, source } }],
      { actor, expected: plan.previous === null ? "no_stream" : plan.previous.version - 1 }
    )
    return {
      _tag: "Applied",
      name: document.name,
      version: plan.version,
      contentHash: plan.contentHash,
      recordId: record?.id ?? "",
      previousVersion: plan.previous?.version ?? null
    } satisfies ApplyOutcome
  })

/** What the daemon needs to apply a policy for the CLI: its writer and its store. */
export interface PolicyWriter {
  readonly ledger: LedgerShape
  readonly store: EventStoreShape
}

/** A document sent over the daemon socket, decoded as strictly as a file. */
export const decodePolicyDocument = (value: unknown) =>
  Schema.decodeUnknown(PolicyDocument, { errors: "all", onExcessProperty: "error" })(value).pipe(
    Effect.mapError((error) => new PolicyRejected({ name: "?", reason: ParseResult.TreeFormatter.formatErrorSync(error) }))
  )
