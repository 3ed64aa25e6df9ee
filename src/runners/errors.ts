// What can go wrong in a runner, as values. Each message says what happened and what to do about it;
// `ExecResult.timedOut` is deliberately not here: a command running out of time is a result, not a fault.
import { Data } from "effect"

/** The host lacks something the runner needs (a binary, a cgroup controller, root). */
export class HostUnsupported extends Data.TaggedError("HostUnsupported")<{
  readonly runner: string
  readonly missing: string
  readonly fix: string
}> {
  override get message() {
    return `the ${this.runner} runner cannot run on this host: ${this.missing}. ${this.fix} Run \`hydravisor doctor\` for a full check.`
  }
}

/** The spec asks for a network mode this runner does not implement. */
export class NetworkModeUnsupported extends Data.TaggedError("NetworkModeUnsupported")<{
  readonly runner: string
  readonly mode: string
}> {
  override get message() {
    return `the ${this.runner} runner does not support network mode "${this.mode}" yet; use "none" or another runner`
  }
}

export class InvalidSandboxSpec extends Data.TaggedError("InvalidSandboxSpec")<{
  readonly field: string
  readonly reason: string
}> {
  override get message() {
    return `invalid sandbox spec: ${this.field}: ${this.reason}`
  }
}

export class InvalidExecRequest extends Data.TaggedError("InvalidExecRequest")<{
  readonly field: string
  readonly reason: string
}> {
  override get message() {
    return `invalid exec request: ${this.field}: ${this.reason}`
  }
}

/** The caller withdrew an exec before its command ran (its intent could not be recorded); nothing ran. */
export class ExecNotAdmitted extends Data.TaggedError("ExecNotAdmitted")<{
  readonly id: string
}> {
  override get message() {
    return `sandbox ${this.id}: the exec was withdrawn before its command ran (its start could not be recorded)`
  }
}

/** A persisted handle that this runner cannot read (another runner's, or corrupted). */
export class InvalidHandle extends Data.TaggedError("InvalidHandle")<{
  readonly id: string
  readonly reason: string
}> {
  override get message() {
    return `sandbox ${this.id}: unusable handle: ${this.reason}`
  }
}

/** The sandbox's cgroup no longer exists or its processes died (e.g. the daemon was killed). */
export class SandboxGone extends Data.TaggedError("SandboxGone")<{
  readonly id: string
}> {
  override get message() {
    return `sandbox ${this.id} is gone (its processes or cgroup no longer exist); destroy it and launch a new one`
  }
}

/** An operation that needs another lifecycle state, e.g. exec on a stopped sandbox. */
export class SandboxStateConflict extends Data.TaggedError("SandboxStateConflict")<{
  readonly id: string
  readonly operation: string
  readonly state: string
}> {
  override get message() {
    return `sandbox ${this.id}: cannot ${this.operation} while it is ${this.state}`
  }
}

export class SandboxExists extends Data.TaggedError("SandboxExists")<{
  readonly id: string
  readonly path: string
}> {
  override get message() {
    return `sandbox ${this.id} already exists (${this.path}); destroy it first or choose another id`
  }
}

/** The sandbox process did not come up; `detail` carries bwrap's own words. */
export class LaunchFailed extends Data.TaggedError("LaunchFailed")<{
  readonly id: string
  readonly detail: string
}> {
  override get message() {
    return `sandbox ${this.id} failed to start: ${this.detail}`
  }
}

/** A cgroup file could not be created, written or read. */
export class CgroupFailure extends Data.TaggedError("CgroupFailure")<{
  readonly path: string
  readonly operation: string
  readonly reason: string
}> {
  override get message() {
    return `cgroup ${this.operation} failed at ${this.path}: ${this.reason}`
  }
}

/** A host file operation (workspace, state dir, snapshot) failed. */
export class RunnerIoFailure extends Data.TaggedError("RunnerIoFailure")<{
  readonly path: string
  readonly operation: string
  readonly reason: string
}> {
  override get message() {
    return `${this.operation} failed at ${this.path}: ${this.reason}`
  }
}

export type RunnerError =
  | HostUnsupported
  | NetworkModeUnsupported
  | InvalidSandboxSpec
  | InvalidExecRequest
  | InvalidHandle
  | SandboxGone
  | SandboxStateConflict
  | SandboxExists
  | LaunchFailed
  | CgroupFailure
  | RunnerIoFailure
  | ExecNotAdmitted

export const describeCause = (cause: unknown): string =>
  cause instanceof Error ? cause.message : typeof cause === "string" ? cause : JSON.stringify(cause)
