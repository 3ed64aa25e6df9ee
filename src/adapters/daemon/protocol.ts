// What the CLI says to the daemon over its unix socket: one JSON request per line, one JSON reply
// per line. Requests are decoded with these Schemas at the daemon's boundary.
import { Schema } from "effect"
import { SnapshotId } from "../sandbox/snapshots.js"

const SandboxRef = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))

export const LaunchRequest = Schema.TaggedStruct("Launch", {
  template: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(100)),
  name: Schema.String.pipe(Schema.maxLength(200)),
  policy: Schema.optional(Schema.String.pipe(Schema.maxLength(100))),
  cpuCores: Schema.optional(Schema.Number.pipe(Schema.positive())),
  memoryMb: Schema.optional(Schema.Int.pipe(Schema.positive())),
  networkIsolated: Schema.optional(Schema.Boolean),
  agent: Schema.optional(Schema.String.pipe(Schema.maxLength(200)))
})

export const ExecRequest = Schema.TaggedStruct("Exec", {
  sandbox: SandboxRef,
  argv: Schema.NonEmptyArray(Schema.String),
  cwd: Schema.optional(Schema.String),
  env: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  stdinBase64: Schema.optional(Schema.String),
  timeoutMs: Schema.optional(Schema.Int.pipe(Schema.positive()))
})

const onSandbox = <T extends string>(tag: T) => Schema.TaggedStruct(tag, { sandbox: SandboxRef })

export const DaemonRequest = Schema.Union(
  Schema.TaggedStruct("Ping", {}),
  LaunchRequest,
  ExecRequest,
  Schema.TaggedStruct("List", {}),
  onSandbox("Inspect"),
  onSandbox("Pause"),
  onSandbox("Resume"),
  Schema.TaggedStruct("Stop", { sandbox: SandboxRef, reason: Schema.optional(Schema.String.pipe(Schema.maxLength(500))) }),
  onSandbox("Destroy"),
  onSandbox("Snapshot"),
  onSandbox("Snapshots"),
  Schema.TaggedStruct("Rollback", { sandbox: SandboxRef, snapshotId: SnapshotId }),
  // The document is decoded again by the daemon, against its own policy state.
  Schema.TaggedStruct("ApplyPolicy", { document: Schema.Unknown, source: Schema.String.pipe(Schema.maxLength(4096)) })
)
export type DaemonRequest = Schema.Schema.Type<typeof DaemonRequest>

export const Envelope = Schema.Struct({
  id: Schema.Int,
  request: Schema.Unknown,
  operator: Schema.String.pipe(Schema.maxLength(100))
})

export const decodeEnvelope = Schema.decodeUnknownEither(Schema.parseJson(Envelope))
export const decodeRequest = Schema.decodeUnknownEither(DaemonRequest, { onExcessProperty: "error" })

export interface Reply {
  readonly id: number
  readonly ok: boolean
  readonly result?: unknown
  readonly error?: { readonly tag: string; readonly message: string }
}
