// What can be asked of a sandbox, one Schema each: data only, the time passed in (`at`, epoch ms).
// Results of runner effects come back as commands too (Record*), so the decider alone says which
// events follow from them.
import { Schema } from "effect"
import { Actor, NonNegativeInt } from "../ledger/record.js"
import { PolicyName, SecurityConfig } from "../config/config.js"
import { BlobRef, EnvVars, ExecId, FailedOperation, OutputRef, RunnerHandle, SandboxId } from "./sandbox-events.js"
import { Network, Resources, Template } from "./template.js"
import type { EffectivePolicy } from "../policy/resolve.js"

const at = Schema.Number

/** The sandbox's effective policy, resolved by the caller from the ledger (policy state); not decoded from outside. */
export const EffectivePolicyValue = Schema.declare(
  (u: unknown): u is EffectivePolicy => typeof u === "object" && u !== null && "contentHash" in u && "commands" in u && "limits" in u,
  { identifier: "EffectivePolicy" }
)

export const Launch = Schema.TaggedStruct("Launch", {
  sandboxId: SandboxId,
  /** Checked by the decider, so that a bad name is a recorded rejection rather than a decoding error. */
  name: Schema.String,
  template: Template,
  resources: Resources,
  network: Network,
  policy: PolicyName,
  owner: Actor,
  agent: Schema.NullOr(Schema.String),
  env: EnvVars,
  /** Names of the sandboxes not yet destroyed (from the sandboxes projection). */
  namesInUse: Schema.Array(Schema.String),
  /** Runner kinds this host can drive. */
  runners: Schema.Array(Schema.String),
  security: SecurityConfig,
  /** When given, the launch must pass it and gets what it narrows the template to. */
  effectivePolicy: Schema.optionalWith(EffectivePolicyValue, { exact: true }),
  at
})

export const RecordProvisioned = Schema.TaggedStruct("RecordProvisioned", { handle: RunnerHandle, at })

export const RecordStarted = Schema.TaggedStruct("RecordStarted", { handle: RunnerHandle, at })

export const Exec = Schema.TaggedStruct("Exec", {
  execId: ExecId,
  argv: Schema.Array(Schema.String),
  cwd: Schema.NullOr(Schema.String),
  env: EnvVars,
  stdin: Schema.NullOr(BlobRef),
  timeoutMs: Schema.NullOr(Schema.Number),
  /** When given, the command must pass its command rules. */
  effectivePolicy: Schema.optionalWith(EffectivePolicyValue, { exact: true }),
  at
})

export const LimitCounters = Schema.Struct({ oomKills: NonNegativeInt, pidsLimitHits: NonNegativeInt })
export type LimitCounters = Schema.Schema.Type<typeof LimitCounters>

export const RecordExecuted = Schema.TaggedStruct("RecordExecuted", {
  execId: ExecId,
  exitCode: Schema.NullOr(Schema.Int),
  signal: Schema.NullOr(Schema.String),
  durationMs: Schema.Number,
  timedOut: Schema.Boolean,
  oomKilled: Schema.Boolean,
  stdout: OutputRef,
  stderr: OutputRef,
  /** The sandbox's limit counters read right after the command; null when they could not be read. */
  counters: Schema.NullOr(LimitCounters),
  /** The runner's whole exec call, when it reports it (see ExecResult.runnerMs). */
  runnerMs: Schema.optionalWith(Schema.Number, { exact: true }),
  at
})

export const RecordExecFailed = Schema.TaggedStruct("RecordExecFailed", { execId: ExecId, reason: Schema.String, at })

export const Pause = Schema.TaggedStruct("Pause", { at })

export const Resume = Schema.TaggedStruct("Resume", { at })

export const Stop = Schema.TaggedStruct("Stop", { reason: Schema.String, at })

export const Destroy = Schema.TaggedStruct("Destroy", { at })

/** Reconciliation (or a runner call) found the sandbox gone. */
export const MarkDead = Schema.TaggedStruct("MarkDead", { reason: Schema.String, at })

/** A runner operation failed after its intent was recorded. */
export const RecordFailed = Schema.TaggedStruct("RecordFailed", { operation: FailedOperation, reason: Schema.String, at })

export const SandboxCommand = Schema.Union(
  Launch,
  RecordProvisioned,
  RecordStarted,
  Exec,
  RecordExecuted,
  RecordExecFailed,
  Pause,
  Resume,
  Stop,
  Destroy,
  MarkDead,
  RecordFailed
)
export type SandboxCommand = Schema.Schema.Type<typeof SandboxCommand>
export type SandboxCommandTag = SandboxCommand["_tag"]
