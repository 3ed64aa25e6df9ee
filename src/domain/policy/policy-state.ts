// Policy state: every applied policy's current version and its history, folded from `PolicyApplied`
// records (stream `policy-<name>`). Pure: the projection in src/projections/policies.ts feeds it.
import { canonicalize } from "../ledger/canonical-json.js"
import { sha256Hex } from "../ledger/hash.js"
import type { PolicyDocument } from "./policy-document.js"

export interface AppliedPolicy {
  readonly name: string
  /** 1 for the first application of a name, then +1 for each change. */
  readonly version: number
  readonly contentHash: string
  readonly document: PolicyDocument
  /** Where it came from: the file given to `policy apply`, as given. */
  readonly source: string
  /** The PolicyApplied record and its time. */
  readonly recordId: string
  readonly at: string
}

export interface PolicyHistory {
  readonly current: AppliedPolicy
  /** Every version, oldest first; the last one is `current`. */
  readonly versions: ReadonlyArray<AppliedPolicy>
}

/** Applied policies by name. */
export type PolicyState = Readonly<Record<string, PolicyHistory>>

export const emptyPolicyState: PolicyState = {}

export const policyStream = (name: string): string => `policy-${name}`

/** SHA-256 of the document's RFC 8785 canonical JSON: formatting and key order do not change it. */
export const contentHashOf = (document: PolicyDocument): string => sha256Hex(canonicalize(document))

export const evolvePolicyState = (state: PolicyState, applied: AppliedPolicy): PolicyState => {
  const versions = [...(state[applied.name]?.versions ?? []), applied]
  return { ...state, [applied.name]: { current: applied, versions } }
}

/** What applying `document` would do: nothing (same content as the current version), or which version it becomes. */
export type ApplyPlan =
  | { readonly _tag: "Unchanged"; readonly current: AppliedPolicy }
  | { readonly _tag: "NewVersion"; readonly version: number; readonly contentHash: string; readonly previous: AppliedPolicy | null }

export const planApply = (state: PolicyState, document: PolicyDocument): ApplyPlan => {
  const contentHash = contentHashOf(document)
  const current = state[document.name]?.current
  if (current !== undefined && current.contentHash === contentHash) return { _tag: "Unchanged", current }
  return { _tag: "NewVersion", version: (current?.version ?? 0) + 1, contentHash, previous: current ?? null }
}
