// The runner port: how the daemon creates, drives and inspects a sandbox without knowing which
// isolation technology (bwrap, containerd, qemu) sits behind it. Every shape is a Schema so a spec
// from a template, a request from MCP and a handle persisted by the daemon are decoded at the boundary.
import { Context, Schema } from "effect"
import type { Effect } from "effect"
import type { RunnerError } from "./errors.js"

export const SandboxId = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9-]{1,64}$/),
  Schema.annotations({ identifier: "SandboxId", description: "lower-case letters, digits and '-', 1 to 64 characters" })
)

export const SandboxRootfs = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("host") }),
  Schema.Struct({ kind: Schema.Literal("image"), path: Schema.String })
)
export type SandboxRootfs = Schema.Schema.Type<typeof SandboxRootfs>

export const SandboxResources = Schema.Struct({
  cpuCores: Schema.Number.pipe(Schema.positive()),
  memoryMb: Schema.Int.pipe(Schema.positive()),
  pids: Schema.Int.pipe(Schema.positive()),
  /** RLIMIT_NOFILE (soft and hard) of every process in the sandbox; the runner's default when absent. */
  fileHandles: Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { exact: true })
})
export type SandboxResources = Schema.Schema.Type<typeof SandboxResources>

export const SandboxNetwork = Schema.Literal("none", "allowlist", "open")
export type SandboxNetwork = Schema.Schema.Type<typeof SandboxNetwork>

export const SandboxSpec = Schema.Struct({
  /** Names the sandbox's cgroups and directories. */
  id: SandboxId,
  hostname: Schema.String,
  /** Host directory, created if missing, mounted read-write at /workspace (the default cwd). */
  workspaceDir: Schema.String,
  /** Host directory for the runner's own state; never visible inside the sandbox. */
  stateDir: Schema.String,
  rootfs: SandboxRootfs,
  resources: SandboxResources,
  network: SandboxNetwork,
  /** Given to every process started in the sandbox; `ExecRequest.env` overrides per call. */
  env: Schema.Record({ key: Schema.String, value: Schema.String }),
  /** Which runner should run it, where several are registered (`runner-registry.ts`). */
  runner: Schema.optional(Schema.String)
})
export interface SandboxSpec extends Schema.Schema.Type<typeof SandboxSpec> {}

export const ExecRequest = Schema.Struct({
  /** Program and arguments, no shell; the program is looked up on the sandbox's PATH. */
  argv: Schema.Array(Schema.String),
  /** Relative to /workspace, or absolute inside the sandbox; /workspace when left out. */
  cwd: Schema.optionalWith(Schema.String, { exact: true }),
  env: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { exact: true }),
  stdin: Schema.optionalWith(Schema.Uint8ArrayFromSelf, { exact: true }),
  /** The whole process tree of the call is killed when it runs longer; no limit when left out. */
  timeoutMs: Schema.optionalWith(Schema.Number.pipe(Schema.positive()), { exact: true }),
  /** Per stream; bytes past it are read and dropped. 1 MiB when left out. */
  maxOutputBytes: Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { exact: true })
})
export interface ExecRequest extends Schema.Schema.Type<typeof ExecRequest> {}

export const ExecResult = Schema.Struct({
  /** null when the process was ended by a signal. */
  exitCode: Schema.NullOr(Schema.Int),
  signal: Schema.NullOr(Schema.String),
  stdout: Schema.Uint8ArrayFromSelf,
  stderr: Schema.Uint8ArrayFromSelf,
  stdoutTruncated: Schema.Boolean,
  stderrTruncated: Schema.Boolean,
  /** The process, spawn to exit, less any time it waited at its admission gate (see RunnerExecOptions). */
  durationMs: Schema.Number,
  timedOut: Schema.Boolean,
  /** The sandbox's OOM-kill counter rose while this call ran. */
  oomKilled: Schema.Boolean,
  /** The sandbox's limit counters read once the command ended (saves the caller a `status` call). */
  counters: Schema.optionalWith(Schema.Struct({ oomKills: Schema.Int, pidsLimitHits: Schema.Int }), { exact: true }),
  /** The runner's whole call (preparing, running, collecting), less any wait for the exec's admission. */
  runnerMs: Schema.optionalWith(Schema.Number, { exact: true })
})
export interface ExecResult extends Schema.Schema.Type<typeof ExecResult> {}

/**
 * What the daemon persists to find a sandbox again after its own restart. `runnerState` belongs to the
 * runner named in `runner`; only that runner reads it.
 */
export const SandboxHandle = Schema.Struct({
  id: SandboxId,
  runner: Schema.String,
  /** Host pid of the sandbox's first process; null before start. */
  pid: Schema.NullOr(Schema.Int),
  /** The cgroup directory that tracks every process of the sandbox. */
  cgroup: Schema.String,
  runnerState: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})
export interface SandboxHandle extends Schema.Schema.Type<typeof SandboxHandle> {}

export const SandboxState = Schema.Literal("running", "paused", "stopped", "gone")
export type SandboxState = Schema.Schema.Type<typeof SandboxState>

export const SandboxStatus = Schema.Struct({
  /** `stopped`: created or stopped on request; `gone`: died without being asked (or destroyed). */
  state: SandboxState,
  pids: Schema.Array(Schema.Int),
  memoryBytes: Schema.NullOr(Schema.Number),
  oomKills: Schema.Int,
  pidsLimitHits: Schema.Int
})
export interface SandboxStatus extends Schema.Schema.Type<typeof SandboxStatus> {}

export interface RunnerExecOptions {
  /**
   * Asked once the runner has prepared the command and before any of it runs: true lets it run,
   * false withdraws it (the exec fails with ExecNotAdmitted, nothing ran). The sandbox service
   * answers once the exec's CommandStarted is durable, so the runner's preparation overlaps that
   * commit. Time spent waiting for the answer is not part of `ExecResult.durationMs`.
   */
  readonly admit?: Effect.Effect<boolean>
}

export interface RunnerCapabilities {
  readonly pause: boolean
  readonly snapshot: boolean
}

/**
 * One isolation technology. The daemon gets it from the `Runner` tag; each adapter (`bwrap/`, later
 * `containerd/`, `qemu/`) exports a `layer` providing this tag and a `make` for composing several.
 */
export interface Runner {
  readonly kind: string
  /** The runner kinds this Runner can run; just `kind` when absent (a registry lists its members). */
  readonly kinds?: ReadonlyArray<string>
  readonly capabilities: RunnerCapabilities
  /** Directories and cgroup; nothing runs yet. */
  readonly create: (spec: SandboxSpec) => Effect.Effect<SandboxHandle, RunnerError>
  /** Returns once the sandbox is up and ready for `exec`; the returned handle is the one to persist. */
  readonly start: (handle: SandboxHandle) => Effect.Effect<SandboxHandle, RunnerError>
  readonly exec: (handle: SandboxHandle, request: ExecRequest, options?: RunnerExecOptions) => Effect.Effect<ExecResult, RunnerError>
  /** Freezes every process of the sandbox. */
  readonly pause: (handle: SandboxHandle) => Effect.Effect<void, RunnerError>
  readonly resume: (handle: SandboxHandle) => Effect.Effect<void, RunnerError>
  /** Kills every process of the sandbox and waits until none is left; idempotent. */
  readonly stop: (handle: SandboxHandle) => Effect.Effect<void, RunnerError>
  /** Stops, then removes cgroup, state and workspace; idempotent. */
  readonly destroy: (handle: SandboxHandle) => Effect.Effect<void, RunnerError>
  /** Copies the workspace into `dir` (which must not exist); the hash is over a canonical listing. */
  readonly snapshot: (handle: SandboxHandle, dir: string) => Effect.Effect<{ readonly contentHash: string }, RunnerError>
  /** Replaces the workspace's content with a snapshot's. */
  readonly restore: (handle: SandboxHandle, dir: string) => Effect.Effect<void, RunnerError>
  /** Works on a handle read back after a daemon restart. */
  readonly status: (handle: SandboxHandle) => Effect.Effect<SandboxStatus, RunnerError>
}

export const Runner = Context.GenericTag<Runner>("hydravisor/Runner")
