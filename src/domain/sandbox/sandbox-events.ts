// The Sandbox aggregate's events (stream `sandbox-<id>`), each one `defineEvent` with its payload
// Schema. Payloads are plain JSON (Schema type = encoded form); fields that can carry secrets or
// personal data are `Redactable` and listed as sensitive, so the ledger stores them sealed.
import { Schema } from "effect"
import { defineEvent, type EventDefinition } from "../ledger/event-definition.js"
import { Actor, NonNegativeInt, Sha256Hex } from "../ledger/record.js"
import { PolicyName } from "../config/config.js"
import { Redactable, unsealData } from "../events/redactable.js"
import { Network, Resources, Template } from "./template.js"

export const SandboxName = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9-]{0,62}$/),
  Schema.annotations({ identifier: "SandboxName", description: "lower-case letters, digits and '-', starting with a letter or digit, at most 63 characters" })
)

export const SandboxId = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9-]{1,64}$/),
  Schema.annotations({ identifier: "SandboxId", description: "the id in the stream name sandbox-<id>" })
)

export const sandboxStream = (sandboxId: string): string => `sandbox-${sandboxId}`

export const EnvVars = Schema.Record({ key: Schema.String, value: Schema.String })

/** The runner's handle (`SandboxHandle` in src/runners/runner.ts); opaque to the domain. */
export const RunnerHandle = Schema.Record({ key: Schema.String, value: Schema.Unknown })
export type RunnerHandle = Schema.Schema.Type<typeof RunnerHandle>

/** Bytes stored content-addressed beside the ledger (`<data-dir>/blobs/sha256/<aa>/<hash>`). */
export const BlobRef = Schema.Struct({ sha256: Sha256Hex, bytes: NonNegativeInt })
export type BlobRef = Schema.Schema.Type<typeof BlobRef>

/** A command's output stream: the stored bytes and whether more were produced than kept. */
export const OutputRef = Schema.Struct({ sha256: Sha256Hex, bytes: NonNegativeInt, truncated: Schema.Boolean })
export type OutputRef = Schema.Schema.Type<typeof OutputRef>

export const ExecId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(128))

export const FailedOperation = Schema.Literal("launch", "exec", "pause", "resume", "stop")
export type FailedOperation = Schema.Schema.Type<typeof FailedOperation>

export const LimitKind = Schema.Literal("memory", "pids")

export const SandboxRequested = defineEvent(
  "SandboxRequested",
  Schema.Struct({
    sandboxId: SandboxId,
    name: SandboxName,
    /** The template as resolved at launch, so the record stands alone when the file changes. */
    template: Template,
    resources: Resources,
    network: Network,
    policy: PolicyName,
    owner: Actor,
    /** The agent the sandbox is for, if any. */
    agent: Schema.NullOr(Schema.String),
    /** Environment given at launch on top of the template's. */
    env: Redactable(EnvVars),
    /** RFC 3339; from the template's session_duration_hours, narrowed by the policy. */
    expiresAt: Schema.NullOr(Schema.String),
    /** Content hash of the effective policy enforced (absent in records made before policies existed). */
    policyHash: Schema.optionalWith(Schema.NullOr(Sha256Hex), { exact: true }),
    /** What the policy narrowed (resources, network, session), for the record. */
    narrowed: Schema.optionalWith(Schema.Array(Schema.Struct({ field: Schema.String, rule: Schema.String, from: Schema.Unknown, to: Schema.Unknown })), { exact: true })
  }),
  { description: "A launch was accepted: name, template, limits, network and policy of the new sandbox.", sensitive: ["env"] }
)

export const SandboxProvisioned = defineEvent(
  "SandboxProvisioned",
  Schema.Struct({ handle: Redactable(RunnerHandle) }),
  { description: "The runner created the sandbox (directories, cgroup); nothing runs in it yet.", sensitive: ["handle"] }
)

export const SandboxStarted = defineEvent(
  "SandboxStarted",
  Schema.Struct({ handle: Redactable(RunnerHandle) }),
  { description: "The sandbox is up and accepts commands; the handle is the one to find it again.", sensitive: ["handle"] }
)

const execFields = {
  execId: ExecId,
  argv: Redactable(Schema.Array(Schema.String)),
  /** Inside the sandbox; /workspace when null. */
  cwd: Redactable(Schema.NullOr(Schema.String)),
  env: Redactable(EnvVars)
}

export const CommandStarted = defineEvent(
  "CommandStarted",
  Schema.Struct({
    ...execFields,
    stdin: Redactable(Schema.NullOr(BlobRef)),
    timeoutMs: Schema.NullOr(Schema.Number.pipe(Schema.positive()))
  }),
  { description: "A command was accepted and is about to run (written before it runs).", sensitive: ["argv", "cwd", "env", "stdin"] }
)

export const CommandExecuted = defineEvent(
  "CommandExecuted",
  Schema.Struct({
    ...execFields,
    /** null when a signal ended the process. */
    exitCode: Schema.NullOr(Schema.Int),
    signal: Schema.NullOr(Schema.String),
    durationMs: Schema.Number.pipe(Schema.nonNegative()),
    timedOut: Schema.Boolean,
    oomKilled: Schema.Boolean,
    stdout: OutputRef,
    stderr: OutputRef,
    /** The runner's whole call: preparing, running and collecting the command (absent in older records). */
    runnerMs: Schema.optionalWith(Schema.Number.pipe(Schema.nonNegative()), { exact: true })
  }),
  { description: "A command ran to its end: exit code or signal, duration (and the runner's whole call), output by content hash.", sensitive: ["argv", "cwd", "env"] }
)

export const CommandFailed = defineEvent(
  "CommandFailed",
  Schema.Struct({ execId: ExecId, reason: Schema.String }),
  { description: "The runner could not run an accepted command (the sandbox vanished, a cgroup failed)." }
)

export const SandboxPaused = defineEvent("SandboxPaused", Schema.Struct({}), { description: "Every process of the sandbox is frozen." })

export const SandboxResumed = defineEvent("SandboxResumed", Schema.Struct({}), { description: "The sandbox's processes are thawed." })

export const SandboxStopped = defineEvent(
  "SandboxStopped",
  Schema.Struct({ reason: Schema.String }),
  { description: "Every process of the sandbox was killed on request; the workspace is kept." }
)

export const SandboxDestroyed = defineEvent(
  "SandboxDestroyed",
  Schema.Struct({}),
  { description: "The sandbox's cgroup, state and workspace are removed; its name is free again." }
)

export const SandboxFailed = defineEvent(
  "SandboxFailed",
  Schema.Struct({ operation: FailedOperation, reason: Schema.String }),
  { description: "A runner operation failed; the reason is the runner's own message." }
)

export const SandboxFoundDead = defineEvent(
  "SandboxFoundDead",
  Schema.Struct({ reason: Schema.String }),
  { description: "A sandbox the ledger held running or paused is gone (found by reconciliation or a failed call)." }
)

export const ResourceLimitHit = defineEvent(
  "ResourceLimitHit",
  Schema.Struct({
    kind: LimitKind,
    /** The command during which it was seen, if any. */
    execId: Schema.NullOr(ExecId),
    /** The sandbox's counter after the hit: OOM kills, or refused forks. */
    count: NonNegativeInt,
    /** The limit: memory in MB, or the number of processes. */
    limit: Schema.Number
  }),
  { description: "The kernel enforced a limit: the OOM killer ran, or a fork was refused at the pids limit." }
)

/** Every event of the aggregate, in lifecycle order. */
export const sandboxEvents = [
  SandboxRequested,
  SandboxProvisioned,
  SandboxStarted,
  CommandStarted,
  CommandExecuted,
  CommandFailed,
  SandboxPaused,
  SandboxResumed,
  SandboxStopped,
  SandboxDestroyed,
  SandboxFailed,
  SandboxFoundDead,
  ResourceLimitHit
] as const

const tagged = <const T extends string, A, I>(definition: EventDefinition<T, A, I>) =>
  Schema.Struct({ type: Schema.Literal(definition.type), data: definition.schema })

export const SandboxEvent = Schema.Union(
  tagged(SandboxRequested),
  tagged(SandboxProvisioned),
  tagged(SandboxStarted),
  tagged(CommandStarted),
  tagged(CommandExecuted),
  tagged(CommandFailed),
  tagged(SandboxPaused),
  tagged(SandboxResumed),
  tagged(SandboxStopped),
  tagged(SandboxDestroyed),
  tagged(SandboxFailed),
  tagged(SandboxFoundDead),
  tagged(ResourceLimitHit)
)
export type SandboxEvent = Schema.Schema.Type<typeof SandboxEvent>
export type SandboxEventType = SandboxEvent["type"]

const sandboxEventTypes: ReadonlySet<string> = new Set(sandboxEvents.map((d) => d.type))

export const isSandboxEventType = (type: string): type is SandboxEventType => sandboxEventTypes.has(type)

const decodeUnion = Schema.decodeUnknownEither(SandboxEvent, { onExcessProperty: "ignore" })

/** A stored sandbox event (sealed fields unsealed) as a typed `SandboxEvent`. */
export const decodeSandboxEvent = (type: SandboxEventType, data: Readonly<Record<string, unknown>>) => decodeUnion({ type, data: unsealData(data) })
