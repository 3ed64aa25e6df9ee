// What the sandbox service offers (sandbox-service.ts implements it): its operations, their inputs
// and outcomes, and its errors. Callers (daemon, MCP tools, CLI, tests) depend on this contract.
import { Context, Data, Effect } from "effect"
import type { Config } from "../../domain/config/config.js"
import type { Actor } from "../../domain/ledger/record.js"
import type { SandboxNotFound, SandboxRejection } from "../../domain/sandbox/rejections.js"
import type { FailedOperation, OutputRef } from "../../domain/sandbox/sandbox-events.js"
import type { Network, Resources, Template } from "../../domain/sandbox/template.js"
import type { SandboxesModel, SandboxView } from "../../projections/sandboxes.js"
import type { BlobStoreFailure } from "../blobs/blob-store.js"
import type { AppendPart, LedgerError } from "../ledger/ledger.js"
import type { WrongExpectedRevision } from "../store/event-store.js"

/** A runner operation failed after it was recorded; the ledger holds what became of the sandbox. */
export class SandboxOperationFailed extends Data.TaggedError("SandboxOperationFailed")<{
  readonly sandboxId: string
  readonly operation: FailedOperation | "destroy"
  readonly reason: string
}> {
  override get message() {
    return `sandbox ${this.sandboxId}: ${this.operation} failed: ${this.reason}`
  }
}

export type SandboxServiceError = SandboxRejection | SandboxOperationFailed | LedgerError | WrongExpectedRevision | BlobStoreFailure

export interface LaunchRequest {
  readonly template: Template
  readonly name: string
  readonly actor: Actor
  /** The template's default_policy when left out. */
  readonly policy?: string
  /** The template's when left out. */
  readonly resources?: Resources
  readonly network?: Network
  readonly agent?: string
  /** On top of the template's env. */
  readonly env?: Readonly<Record<string, string>>
}

export interface ExecInput {
  readonly argv: ReadonlyArray<string>
  readonly cwd?: string
  readonly env?: Readonly<Record<string, string>>
  readonly stdin?: Uint8Array
  readonly timeoutMs?: number
  /** Per stream; the runner's default (1 MiB) when left out. */
  readonly maxOutputBytes?: number
}

export interface ExecOptions {
  /**
   * Records to append together with CommandExecuted (one ledger batch, all or none), built when that
   * is appended: a caller's own record of the call costs no extra durable commit. Only a successful
   * exec returns after appending them.
   */
  readonly trailer?: () => ReadonlyArray<AppendPart>
}

export interface ExecOutcome {
  readonly sandboxId: string
  readonly execId: string
  /** The CommandExecuted record. */
  readonly recordId: string
  readonly exitCode: number | null
  readonly signal: string | null
  readonly stdout: Uint8Array
  readonly stderr: Uint8Array
  readonly stdoutRef: OutputRef
  readonly stderrRef: OutputRef
  readonly durationMs: number
  readonly timedOut: boolean
  readonly oomKilled: boolean
  /** Limits the kernel enforced during the call (each also a ResourceLimitHit record). */
  readonly limitsHit: ReadonlyArray<"memory" | "pids">
}

export interface ReconcileReport {
  /** Running or paused in the ledger, and so on the host. */
  readonly alive: ReadonlyArray<string>
  /** Found gone: SandboxFoundDead recorded. */
  readonly dead: ReadonlyArray<{ readonly id: string; readonly name: string; readonly reason: string }>
  /** Launches the daemon did not finish: SandboxFailed recorded. */
  readonly interrupted: ReadonlyArray<string>
  /** Could not be checked (the runner failed); nothing recorded. */
  readonly unknown: ReadonlyArray<{ readonly id: string; readonly reason: string }>
}

export interface SandboxServiceShape {
  readonly launch: (request: LaunchRequest) => Effect.Effect<SandboxView, SandboxServiceError>
  readonly exec: (target: string, input: ExecInput, actor: Actor, options?: ExecOptions) => Effect.Effect<ExecOutcome, SandboxServiceError>
  readonly pause: (target: string, actor: Actor) => Effect.Effect<SandboxView, SandboxServiceError>
  readonly resume: (target: string, actor: Actor) => Effect.Effect<SandboxView, SandboxServiceError>
  readonly stop: (target: string, reason: string, actor: Actor) => Effect.Effect<SandboxView, SandboxServiceError>
  readonly destroy: (target: string, actor: Actor) => Effect.Effect<SandboxView, SandboxServiceError>
  readonly list: (options?: { readonly includeDestroyed?: boolean }) => Effect.Effect<ReadonlyArray<SandboxView>>
  /** A read: not recorded. */
  readonly inspect: (target: string) => Effect.Effect<SandboxView, SandboxNotFound>
  /** Output of a command by the hash in its CommandExecuted record; null when not stored here. */
  readonly readOutput: (sha256: string) => Effect.Effect<Uint8Array | null, BlobStoreFailure>
  /** On daemon start: finds out which sandboxes the ledger holds live are still there. */
  readonly reconcile: (actor?: Actor) => Effect.Effect<ReconcileReport, LedgerError | WrongExpectedRevision>
  /** On daemon shutdown: stops every running or paused sandbox, recorded. */
  readonly stopAll: (reason: string, actor?: Actor) => Effect.Effect<ReadonlyArray<SandboxView>, LedgerError | WrongExpectedRevision>
  /** The sandboxes projection as the service holds it. */
  readonly model: Effect.Effect<SandboxesModel>
}

export class SandboxService extends Context.Tag("hydravisor/SandboxService")<SandboxService, SandboxServiceShape>() {}

export interface SandboxServiceOptions {
  readonly dataDir: string
  /** `security` of the config: max_cpu_cores, max_memory_gb, allow_internet. */
  readonly security: Config["security"]
}

export const DAEMON: Actor = { kind: "system", id: "daemon" }
