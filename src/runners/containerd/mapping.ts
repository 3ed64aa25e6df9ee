// Pure translation between Hydravisor's sandbox model and containerd: the checks on a spec, the gRPC
// request messages (the OCI spec and process they carry are built in oci-spec.ts, re-exported here),
// and what containerd answers (task status, wait status, task events) in our terms. No I/O here.
import { Either, Schema } from "effect"
import { constants as osConstants } from "node:os"
import { InvalidSandboxSpec } from "../errors.js"
import type { SandboxNetwork, SandboxSpec, SandboxState } from "../runner.js"
import { checkSpec as checkSandboxSpec } from "../bwrap/mapping.js"
import type { OciProcess, OciSpec } from "./oci-spec.js"
import type { OciRuntime } from "./oci-runtime.js"

export * from "./oci-spec.js"

export const RUNNER = "containerd"
export const NAMESPACE_HEADER = "containerd-namespace"
export const RUNTIME = "io.containerd.runc.v2"
export const SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
export const PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"
export const SANDBOX_LABEL = "io.hydravisor.sandbox"
/** The runc shim's create options (containerd.runc.v1.Options) as containerd names the type in an Any. */
export const RUNC_OPTIONS_TYPE_URL = "containerd.runc.v1.Options"
/** What an image must contain for the runner to use it. */
export const IMAGE_REQUIREMENTS = ["bin/sh", "usr/bin/env", "usr/bin/sleep", "etc/passwd", "etc/group", "etc/hosts", "workspace"] as const

/** With egress the sandbox's resolv.conf is bound over the image's, and a read-only root cannot gain a mount point. */
export const imageRequirements = (network: SandboxNetwork): ReadonlyArray<string> =>
  network === "none" ? IMAGE_REQUIREMENTS : [...IMAGE_REQUIREMENTS, "etc/resolv.conf"]

// ---------------------------------------------------------------------------------------------------
// checks

/** containerd's identifier rule (ours is narrower: [a-z0-9-]), which forbids a leading '-'. */
const CONTAINER_ID = /^[A-Za-z0-9]/

/** The runners' shared checks (bwrap/mapping.ts), plus containerd's: its id rule and an image rootfs. */
export const checkSpec = (spec: SandboxSpec): Either.Either<SandboxSpec, InvalidSandboxSpec> =>
  CONTAINER_ID.test(spec.id)
    ? checkSandboxSpec(spec, { imageOnly: "the containerd runner needs an image rootfs (build one with `hydravisor image build`); \"host\" is bwrap-only" })
    : Either.left(new InvalidSandboxSpec({ field: "id", reason: "must start with a letter or digit for containerd" }))

// ---------------------------------------------------------------------------------------------------
// exit statuses

const SIGNAL_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(osConstants.signals).map(([name, number]) => [number, name] as const)
)
const SIGNAL_NUMBERS: ReadonlyMap<string, number> = new Map(Object.entries(osConstants.signals))

/**
 * containerd reports 128 + n for a process killed by signal n (the shim reaps it and folds the two),
 * so an exit status in 129..192 naming a known signal is read as that signal. `exit 137` is
 * indistinguishable from SIGKILL; docs/containerd.md says so.
 */
export const exitOutcome = (status: number): { readonly exitCode: number | null; readonly signal: string | null } => {
  const signal = status > 128 && status <= 128 + 64 ? SIGNAL_NAMES.get(status - 128) : undefined
  return signal === undefined ? { exitCode: status, signal: null } : { exitCode: null, signal }
}

export const waitStatusOf = (outcome: { readonly exitCode: number | null; readonly signal: string | null }): number =>
  outcome.signal === null ? (outcome.exitCode ?? 0) : 128 + (SIGNAL_NUMBERS.get(outcome.signal) ?? 0)

// ---------------------------------------------------------------------------------------------------
// containerd messages: requests we send

export interface AnyMessage {
  readonly type_url: string
  readonly value: Uint8Array
}

export interface MountMessage {
  readonly type: string
  readonly source: string
  readonly target: string
  readonly options: ReadonlyArray<string>
}

export interface ContainerMessage {
  readonly id: string
  readonly labels: Readonly<Record<string, string>>
  readonly runtime: { readonly name: string }
  readonly spec: AnyMessage
}

/** An Any whose value proto-loader encodes as containerd.runc.v1.Options (see tasks.proto, RuncOptionsAny). */
export interface RuncOptionsAny {
  readonly type_url: string
  readonly value: { readonly binary_name: string }
}

export interface TaskCreateMessage {
  readonly container_id: string
  readonly rootfs: ReadonlyArray<MountMessage>
  readonly stdin: string
  readonly stdout: string
  readonly stderr: string
  readonly terminal: boolean
  readonly options: RuncOptionsAny
}

export interface ExecStdio {
  /** FIFO paths; "" for /dev/null. */
  readonly stdin: string
  readonly stdout: string
  readonly stderr: string
}

export interface ExecProcessMessage extends ExecStdio {
  readonly container_id: string
  readonly exec_id: string
  readonly terminal: boolean
  readonly spec: AnyMessage
}

const jsonAny = (typeUrl: string, value: unknown): AnyMessage => ({ type_url: typeUrl, value: Buffer.from(JSON.stringify(value), "utf8") })

export const containerMessage = (id: string, spec: OciSpec): ContainerMessage => ({
  id,
  labels: { [SANDBOX_LABEL]: id },
  runtime: { name: RUNTIME },
  spec: jsonAny(SPEC_TYPE_URL, spec)
})

/**
 * The image directory, bound read-only where the spec's root (`rootfs`, relative to the bundle) is, and
 * the OCI runtime the shim drives for this task (its whole life: exec, kill, pause and delete too).
 */
export const taskCreateMessage = (id: string, imageRootfs: string, runtime: OciRuntime): TaskCreateMessage => ({
  container_id: id,
  rootfs: [{ type: "bind", source: imageRootfs, target: "", options: ["rbind", "ro"] }],
  stdin: "",
  stdout: "",
  stderr: "",
  terminal: false,
  options: { type_url: RUNC_OPTIONS_TYPE_URL, value: { binary_name: runtime.binary } }
})

export const execProcessMessage = (containerId: string, execId: string, stdio: ExecStdio, process: OciProcess): ExecProcessMessage => ({
  container_id: containerId,
  exec_id: execId,
  ...stdio,
  terminal: false,
  spec: jsonAny(PROCESS_TYPE_URL, process)
})

/** Server-side filters: this namespace's task exits and OOM kills, nothing else. */
export const subscribeFilters = (namespace: string): ReadonlyArray<string> =>
  ["/tasks/exit", "/tasks/oom"].map((topic) => `namespace==${namespace},topic=="${topic}"`)

// ---------------------------------------------------------------------------------------------------
// containerd messages: answers we read (decoded at the boundary)

const decodeJsonAny = <A>(typeUrl: string, any: { readonly type_url: string; readonly value: Uint8Array }): Either.Either<A, string> => {
  if (any.type_url !== typeUrl) return Either.left(`expected ${typeUrl}, got ${any.type_url}`)
  try {
    return Either.right(JSON.parse(Buffer.from(any.value).toString("utf8")) as A)
  } catch (cause) {
    return Either.left(`unparsable ${typeUrl}: ${String(cause)}`)
  }
}

export const specOfContainer = (container: ContainerMessage): Either.Either<OciSpec, string> => decodeJsonAny<OciSpec>(SPEC_TYPE_URL, container.spec)

export const processOfExec = (message: ExecProcessMessage): Either.Either<OciProcess, string> => decodeJsonAny<OciProcess>(PROCESS_TYPE_URL, message.spec)

const Pid = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

export const TaskStatus = Schema.Literal("UNKNOWN", "CREATED", "RUNNING", "STOPPED", "PAUSED", "PAUSING")
export type TaskStatus = Schema.Schema.Type<typeof TaskStatus>

export const StartResponse = Schema.Struct({ pid: Pid })
export const GetTaskResponse = Schema.Struct({
  process: Schema.Struct({ id: Schema.String, pid: Pid, status: TaskStatus, exit_status: Pid })
})
export const WaitResponse = Schema.Struct({ exit_status: Pid })
export const VersionResponse = Schema.Struct({ version: Schema.String, revision: Schema.String })

const TaskEventAny = Schema.Struct({
  type_url: Schema.String,
  value: Schema.NullOr(Schema.Struct({ container_id: Schema.String, id: Schema.String, pid: Pid, exit_status: Pid }))
})
export const Envelope = Schema.Struct({ namespace: Schema.String, topic: Schema.String, event: Schema.NullOr(TaskEventAny) })

export type TaskEvent =
  | { readonly kind: "exit"; readonly containerId: string; readonly processId: string; readonly pid: number; readonly exitStatus: number }
  | { readonly kind: "oom"; readonly containerId: string }

/** An envelope from the task event stream in our terms; null for topics we did not subscribe to. */
export const taskEventOf = (envelope: Schema.Schema.Type<typeof Envelope>): TaskEvent | null => {
  const value = envelope.event?.value
  if (value === null || value === undefined) return null
  switch (envelope.topic) {
    case "/tasks/exit":
      return { kind: "exit", containerId: value.container_id, processId: value.id, pid: value.pid, exitStatus: value.exit_status }
    case "/tasks/oom":
      return { kind: "oom", containerId: value.container_id }
    default:
      return null
  }
}

/** A task's status as a sandbox state: a task we did not stop that is no longer running is `gone`. */
export const sandboxStateOf = (task: TaskStatus | null): SandboxState => {
  switch (task) {
    case null:
    case "CREATED":
      return "stopped"
    case "RUNNING":
      return "running"
    case "PAUSED":
    case "PAUSING":
      return "paused"
    case "STOPPED":
    case "UNKNOWN":
      return "gone"
  }
}
