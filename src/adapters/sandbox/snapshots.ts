// Snapshots of a sandbox's writable state (its workspace) and rollbacks to them, for every surface:
// operator verbs through the daemon, agents through MCP. The runner copies; the ledger records the
// content hash of what was captured, and of what a rollback put back.
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { join } from "node:path"
import { Chunk, Data, Effect, Schema, Stream } from "effect"
import { agentStream, WorkspaceRolledBack, WorkspaceSnapshotted } from "../../domain/events/agent-events.js"
import { hostStream } from "../../domain/events/command-rejected.js"
import type { Actor } from "../../domain/ledger/record.js"
import type { SandboxView } from "../../projections/sandboxes.js"
import { contentHash } from "../../runners/bwrap/workspace-copy.js"
import type { RunnerError } from "../../runners/errors.js"
import type { Runner } from "../../runners/runner.js"
import type { LedgerError, LedgerShape } from "../ledger/ledger.js"
import type { EventStoreShape, StoreError, WrongExpectedRevision } from "../store/event-store.js"
import { fromRunnerHandle, sandboxDirs } from "./mapping.js"

export const SnapshotId = Schema.String.pipe(
  Schema.pattern(/^snap-[0-9a-f]{12}$/),
  Schema.annotations({ identifier: "SnapshotId", description: "'snap-' and 12 hex digits, as `snapshot` printed it" })
)

/** The caller cannot have this snapshot or rollback (no support, wrong state, unknown snapshot). */
export class SnapshotRefused extends Data.TaggedError("SnapshotRefused")<{ readonly sandbox: string; readonly reason: string }> {
  override get message() {
    return `sandbox ${this.sandbox}: ${this.reason}`
  }
}

/** The runner or the host failed while copying; nothing was recorded. */
export class SnapshotFailed extends Data.TaggedError("SnapshotFailed")<{ readonly sandbox: string; readonly operation: "snapshot" | "rollback"; readonly reason: string }> {
  override get message() {
    return `sandbox ${this.sandbox}: ${this.operation} failed: ${this.reason}`
  }
}

export type SnapshotError = SnapshotRefused | SnapshotFailed | LedgerError | WrongExpectedRevision

/** Where the records go and who they name. */
export interface Recording {
  readonly stream: string
  readonly actor: Actor
  readonly correlation: string | null
}

export interface Snapshot {
  readonly sandboxId: string
  readonly snapshotId: string
  readonly contentHash: string
  readonly createdAt: string
  readonly recordId: string
  readonly actor: Actor
  /** Whether its copy is still on disk (destroying the sandbox removes it). */
  readonly available: boolean
}

export interface Rollback {
  readonly sandboxId: string
  readonly snapshotId: string
  /** Hash of the restored workspace: the snapshot's content as copied back. */
  readonly contentHash: string
  readonly recordId: string
}

export interface SnapshotDeps {
  readonly runner: Runner
  readonly ledger: LedgerShape
  readonly store: EventStoreShape
  readonly dataDir: string
}

export const snapshotsDir = (dataDir: string, sandboxId: string) => join(sandboxDirs(dataDir, sandboxId).root, "snapshots")

/** The stream an operator's snapshot records go to: the host's, beside its refused commands. */
export const operatorRecording = (writerId: string, actor: Actor, correlation: string | null = null): Recording => ({
  stream: hostStream(writerId),
  actor,
  correlation
})

export const makeSnapshots = (deps: SnapshotDeps) => {
  const { runner, ledger, store } = deps
  const dirOf = (sandboxId: string, snapshotId: string) => join(snapshotsDir(deps.dataDir, sandboxId), snapshotId)

  /** The runner's handle of a sandbox whose workspace can be copied now. */
  const handleFor = (view: SandboxView) =>
    Effect.gen(function* () {
      const refuse = (reason: string) => new SnapshotRefused({ sandbox: view.name, reason })
      if (!runner.capabilities.snapshot) return yield* refuse(`the ${view.runner} runner does not support snapshots`)
      if (view.state === "requested" || view.state === "provisioning") return yield* refuse(`it is still starting (${view.state})`)
      if (view.state === "destroyed" || view.state === "failed") return yield* refuse(`it is ${view.state}; its workspace is gone`)
      const handle = fromRunnerHandle(view.handle)
      if (handle === null) return yield* new SnapshotFailed({ sandbox: view.name, operation: "snapshot", reason: "the ledger holds no usable runner handle for it" })
      return handle
    })

  const record = (recording: Recording, event: { readonly type: string; readonly sensitive: ReadonlyArray<string> }, data: Record<string, unknown>) =>
    Effect.map(
      ledger.append(recording.stream, [{ type: event.type, data, sensitive: event.sensitive }], { actor: recording.actor, correlation: recording.correlation }),
      (records) => records[0]!
    )

  const failed = (view: SandboxView, operation: "snapshot" | "rollback") => (e: RunnerError) =>
    new SnapshotFailed({ sandbox: view.name, operation, reason: e.message })

  /** Copies the workspace, then records WorkspaceSnapshotted with the copy's content hash. */
  const take = (view: SandboxView, recording: Recording) =>
    Effect.gen(function* () {
      const handle = yield* handleFor(view)
      const snapshotId = `snap-${randomBytes(6).toString("hex")}`
      yield* Effect.sync(() => fs.mkdirSync(snapshotsDir(deps.dataDir, view.id), { recursive: true, mode: 0o700 }))
      const taken = yield* runner.snapshot(handle, dirOf(view.id, snapshotId)).pipe(Effect.mapError(failed(view, "snapshot")))
      const recorded = yield* record(recording, WorkspaceSnapshotted, { sandboxId: view.id, snapshotId, contentHash: taken.contentHash })
      return { sandboxId: view.id, snapshotId, contentHash: taken.contentHash, createdAt: recorded.at, recordId: recorded.id, actor: recording.actor, available: true } satisfies Snapshot
    })

  /** Every recorded snapshot of the sandbox, oldest first: by operators (host stream) and by its agents. */
  const list = (view: SandboxView): Effect.Effect<ReadonlyArray<Snapshot>, StoreError> =>
    Effect.gen(function* () {
      const agents = new Set([...(view.owner.kind === "agent" ? [view.owner.id] : []), ...(view.agent !== null ? [view.agent] : [])])
      const streams = [hostStream(ledger.writerId), ...[...agents].map(agentStream)]
      const found: Array<Snapshot & { readonly seq: number }> = []
      for (const stream of streams) {
        const records = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readStream(stream)))
        for (const { record } of records) {
          if (record.type !== WorkspaceSnapshotted.type || record.data["sandboxId"] !== view.id) continue
          const snapshotId = String(record.data["snapshotId"])
          found.push({
            sandboxId: view.id,
            snapshotId,
            contentHash: String(record.data["contentHash"]),
            createdAt: record.at,
            recordId: record.id,
            actor: record.actor,
            available: fs.existsSync(dirOf(view.id, snapshotId)),
            seq: record.chain.seq
          })
        }
      }
      return found.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.seq - b.seq)).map(({ seq: _, ...s }) => s)
    })

  /**
   * Replaces the workspace with a snapshot's copy, then records WorkspaceRolledBack with the hash of
   * what was put back (hashed from the copy, which lives on the host only, so nothing in the sandbox
   * can change it between the hash and the restore).
   */
  const rollback = (view: SandboxView, snapshotId: string, recording: Recording) =>
    Effect.gen(function* () {
      const handle = yield* handleFor(view)
      const dir = dirOf(view.id, snapshotId)
      if (!Schema.is(SnapshotId)(snapshotId) || !fs.existsSync(dir)) return yield* new SnapshotRefused({ sandbox: view.name, reason: `no snapshot '${snapshotId}' of it` })
      const restoredHash = yield* contentHash(dir).pipe(Effect.mapError(failed(view, "rollback")))
      yield* runner.restore(handle, dir).pipe(Effect.mapError(failed(view, "rollback")))
      const recorded = yield* record(recording, WorkspaceRolledBack, { sandboxId: view.id, snapshotId, contentHash: restoredHash })
      return { sandboxId: view.id, snapshotId, contentHash: restoredHash, recordId: recorded.id } satisfies Rollback
    })

  return { take, list, rollback }
}

export type Snapshots = ReturnType<typeof makeSnapshots>
