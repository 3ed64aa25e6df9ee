// Policy state as a read model: `PolicyApplied` records (streams `policy-<name>`) folded into each
// policy's current version and history. Like every projection it can be rebuilt from the ledger; a
// record that does not decode is kept as a problem, never guessed at.
import { Either, Stream } from "effect"
import { decodeEventData } from "../domain/events/catalogue.js"
import type { LedgerRecord } from "../domain/ledger/record.js"
import { emptyPolicyState, evolvePolicyState, type PolicyState } from "../domain/policy/policy-state.js"
import type { PolicyDocument } from "../domain/policy/policy-document.js"

export type PolicyRecord = Pick<LedgerRecord, "id" | "stream" | "type" | "at" | "data">

export interface PoliciesModel {
  readonly state: PolicyState
  readonly problems: ReadonlyArray<{ readonly recordId: string; readonly problem: string }>
}

export const emptyPolicies: PoliciesModel = { state: emptyPolicyState, problems: [] }

interface AppliedData {
  readonly name: string
  readonly version: number
  readonly contentHash: string
  readonly document: PolicyDocument
  readonly source: string
}

export const applyPolicyRecord = (model: PoliciesModel, record: PolicyRecord): PoliciesModel => {
  if (record.type !== "PolicyApplied" || !record.stream.startsWith("policy-")) return model
  const decoded = decodeEventData(record.type, record.data)
  if (Either.isLeft(decoded)) return { ...model, problems: [...model.problems, { recordId: record.id, problem: decoded.left.message }] }
  const data = decoded.right as AppliedData
  return {
    ...model,
    state: evolvePolicyState(model.state, { ...data, recordId: record.id, at: record.at })
  }
}

export const foldPolicies = <E, R>(records: Stream.Stream<PolicyRecord, E, R>) =>
  Stream.runFold(records, emptyPolicies, applyPolicyRecord)
