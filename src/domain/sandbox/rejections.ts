// Why a sandbox command is refused, as tagged values. Each carries a `reason` a person can act on;
// the service records it as `CommandRejected` and hands the same value to the caller.
import { Data } from "effect"

type WithReason<A> = A & { readonly reason: string }

export class InvalidTransition extends Data.TaggedError("InvalidTransition")<WithReason<{ readonly command: string; readonly state: string }>> {
  override get message() {
    return this.reason
  }
}

export class SandboxNotRunning extends Data.TaggedError("SandboxNotRunning")<WithReason<{ readonly command: string; readonly state: string }>> {
  override get message() {
    return this.reason
  }
}

export class InvalidName extends Data.TaggedError("InvalidName")<WithReason<{ readonly name: string }>> {
  override get message() {
    return this.reason
  }
}

export class NameTaken extends Data.TaggedError("NameTaken")<WithReason<{ readonly name: string }>> {
  override get message() {
    return this.reason
  }
}

export interface Violation {
  readonly limit: string
  readonly requested: number
  readonly max: number
}

export class LimitsExceeded extends Data.TaggedError("LimitsExceeded")<WithReason<{ readonly violations: ReadonlyArray<Violation> }>> {
  override get message() {
    return this.reason
  }
}

export class NetworkNotAllowed extends Data.TaggedError("NetworkNotAllowed")<WithReason<{ readonly mode: string }>> {
  override get message() {
    return this.reason
  }
}

export class RunnerUnavailable extends Data.TaggedError("RunnerUnavailable")<WithReason<{ readonly runner: string; readonly available: ReadonlyArray<string> }>> {
  override get message() {
    return this.reason
  }
}

export class SessionExpired extends Data.TaggedError("SessionExpired")<WithReason<{ readonly expiresAt: string }>> {
  override get message() {
    return this.reason
  }
}

export class UnknownExec extends Data.TaggedError("UnknownExec")<WithReason<{ readonly execId: string }>> {
  override get message() {
    return this.reason
  }
}

export class InvalidCommand extends Data.TaggedError("InvalidCommand")<WithReason<{ readonly field: string }>> {
  override get message() {
    return this.reason
  }
}

/** No sandbox has this name or id (decided by the service against the projection). */
export class SandboxNotFound extends Data.TaggedError("SandboxNotFound")<WithReason<{ readonly target: string }>> {
  override get message() {
    return this.reason
  }
}

/** The sandbox's policy forbids it: which rule of which policy. */
export class PolicyRefused extends Data.TaggedError("PolicyRefused")<WithReason<{ readonly policy: string; readonly rule: string }>> {
  override get message() {
    return this.reason
  }
}

export type SandboxRejection =
  | PolicyRefused
  | InvalidTransition
  | SandboxNotRunning
  | InvalidName
  | NameTaken
  | LimitsExceeded
  | NetworkNotAllowed
  | RunnerUnavailable
  | SessionExpired
  | UnknownExec
  | InvalidCommand
  | SandboxNotFound

const rejectionTags: ReadonlySet<string> = new Set([
  "PolicyRefused",
  "InvalidTransition",
  "SandboxNotRunning",
  "InvalidName",
  "NameTaken",
  "LimitsExceeded",
  "NetworkNotAllowed",
  "RunnerUnavailable",
  "SessionExpired",
  "UnknownExec",
  "InvalidCommand",
  "SandboxNotFound"
])

export const isSandboxRejection = (error: { readonly _tag: string }): error is SandboxRejection => rejectionTags.has(error._tag)
