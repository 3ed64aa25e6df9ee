// Policy facts in the ledger. `PolicyApplied` (stream `policy-<name>`) versions a policy: loading or
// changing one is an event carrying the whole document and its content hash. `PolicyViolated` and
// `PolicyActionTaken` go to `observations-<sandboxId>`, appended by the enforcement engine.
import { Schema } from "effect"
import { PolicyName, PositiveInt } from "../config/config.js"
import { Redactable } from "../events/redactable.js"
import { defineEvent } from "../ledger/event-definition.js"
import { RecordId, Sha256Hex } from "../ledger/record.js"
import { SandboxId } from "../sandbox/sandbox-events.js"
import { PolicyDocument, RuleKind, Severity, ViolationAction } from "./policy-document.js"

export const PolicyApplied = defineEvent(
  "PolicyApplied",
  Schema.Struct({
    name: PolicyName,
    /** 1, then +1 for each change of content. */
    version: PositiveInt,
    /** SHA-256 of the document's RFC 8785 canonical JSON. */
    contentHash: Sha256Hex,
    document: PolicyDocument,
    /** The file it was read from, as given to `policy apply`. */
    source: Schema.String
  }),
  { description: "A policy was loaded or changed: its new version, the whole document and its content hash." }
)

export const PolicyViolated = defineEvent(
  "PolicyViolated",
  Schema.Struct({
    sandboxId: SandboxId,
    policy: PolicyName,
    /** The content hash of the effective (merged) policy that was enforced. */
    policyHash: Sha256Hex,
    /** The policy key that was broken (`commands.blocked[2]`, `resources.quotas.daily_cpu_hours`). */
    rule: Schema.String,
    kind: RuleKind,
    severity: Severity,
    action: ViolationAction,
    /** The observation records that show it. */
    evidence: Schema.Array(RecordId),
    /** What happened, in words; may quote argv or hosts, so it is sealed. */
    detail: Redactable(Schema.String)
  }),
  { description: "An observation broke a policy rule; severity and action come from the policy.", sensitive: ["detail"] }
)

export const ActionOutcome = Schema.Literal("succeeded", "failed", "skipped")
export type ActionOutcome = Schema.Schema.Type<typeof ActionOutcome>

export const PolicyActionTaken = defineEvent(
  "PolicyActionTaken",
  Schema.Struct({
    sandboxId: SandboxId,
    /** The PolicyViolated record acted on. */
    violation: RecordId,
    action: ViolationAction,
    /** `skipped`: nothing left to act on (the process had exited, the sandbox was already stopped). */
    outcome: ActionOutcome,
    detail: Schema.String
  }),
  { description: "The enforcement engine acted on a violation: alerted, killed the process, paused or stopped the sandbox." }
)

export const policyEvents = [PolicyApplied, PolicyViolated, PolicyActionTaken] as const
