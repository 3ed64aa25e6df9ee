// What a violation of a rule kind costs under a policy: its severity and the action the enforcement
// engine takes. Set per policy under `violations:`, else the built-in default for the kind.
import type { RuleKind, Severity, ViolationAction } from "./policy-document.js"
import type { EffectivePolicy } from "./resolve.js"

export interface RuleAction {
  readonly severity: Severity
  readonly action: ViolationAction
}

export const ruleAction = (policy: EffectivePolicy, kind: RuleKind): RuleAction => policy.violations[kind]
