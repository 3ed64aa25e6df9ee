// The one refusal the pure checks return: which rule of which policy said no, and why, in words a
// person can act on. `rule` is the dotted path of the key in the policy (`commands.blocked[3]`).
import { Data } from "effect"

export class PolicyDenied extends Data.TaggedError("PolicyDenied")<{
  readonly policy: string
  readonly rule: string
  readonly reason: string
}> {
  override get message() {
    return `policy ${this.policy}: ${this.rule}: ${this.reason}`
  }
}
