// The sandboxes read model: every sandbox's state, folded from the ledger's `sandbox-<id>` streams
// with the aggregate's own `evolve`, plus what only the records know (times, revisions, record ids).
// It can be thrown away and rebuilt from the ledger; rebuilding gives the same model.
import { Either, HashMap, Option, Stream } from "effect"
import type { LedgerRecord } from "../domain/ledger/record.js"
import type { Actor } from "../domain/ledger/record.js"
import { valueOr } from "../domain/events/redactable.js"
import { decodeSandboxEvent, isSandboxEventType, type RunnerHandle, type SandboxEvent } from "../domain/sandbox/sandbox-events.js"
import { evolve, holdsName, initialState, type Lifecycle, type SandboxState } from "../domain/sandbox/sandbox.js"
import type { Network, Resources } from "../domain/sandbox/template.js"

/** What the model reads of a record. */
export type SandboxRecord = Pick<LedgerRecord, "id" | "stream" | "type" | "revision" | "at" | "data">

export interface LastExec {
  readonly execId: string
  /** The CommandExecuted record. */
  readonly recordId: string
  readonly at: string
  /** null when the ledger's copy was redacted. */
  readonly argv: ReadonlyArray<string> | null
  readonly exitCode: number | null
  readonly signal: string | null
  readonly durationMs: number
  readonly timedOut: boolean
  readonly oomKilled: boolean
}

export interface SandboxEntry {
  readonly state: SandboxState
  /** Revision of the stream's last record: the expected revision for the next append. */
  readonly revision: number
  readonly createdAt: string | null
  readonly updatedAt: string
  readonly lastExec: LastExec | null
}

export interface ModelProblem {
  readonly recordId: string
  readonly type: string
  readonly problem: string
}

export interface SandboxesModel {
  readonly sandboxes: HashMap.HashMap<string, SandboxEntry>
  /** Records of sandbox streams that could not be decoded; they are skipped, not guessed at. */
  readonly problems: ReadonlyArray<ModelProblem>
}

export const emptySandboxes: SandboxesModel = { sandboxes: HashMap.empty(), problems: [] }

const STREAM = /^sandbox-(.+)$/

/**
 * Folds one record into the model. `known` is the record's event as the appender built it (the
 * sandbox service folds what it just appended without decoding its own record again); a record read
 * from the store is decoded.
 */
export const applyRecord = (model: SandboxesModel, record: SandboxRecord, known?: SandboxEvent): SandboxesModel => {
  const id = STREAM.exec(record.stream)?.[1]
  if (id === undefined) return model
  const entry: SandboxEntry = Option.getOrElse(HashMap.get(model.sandboxes, id), () => ({
    state: initialState(),
    revision: -1,
    createdAt: null,
    updatedAt: record.at,
    lastExec: null
  }))
  let next: SandboxEntry = { ...entry, revision: record.revision, updatedAt: record.at }
  let problems = model.problems
  if (isSandboxEventType(record.type)) {
    const decoded = known !== undefined && known.type === record.type ? Either.right(known) : decodeSandboxEvent(record.type, record.data)
    if (decoded._tag === "Left") {
      problems = [...problems, { recordId: record.id, type: record.type, problem: decoded.left.message }]
    } else {
      const event = decoded.right
      next = { ...next, state: evolve(entry.state, event) }
      if (event.type === "SandboxRequested" && entry.createdAt === null) next = { ...next, createdAt: record.at }
      if (event.type === "CommandExecuted") {
        const d = event.data
        next = {
          ...next,
          lastExec: {
            execId: d.execId,
            recordId: record.id,
            at: record.at,
            argv: valueOr(d.argv, null),
            exitCode: d.exitCode,
            signal: d.signal,
            durationMs: d.durationMs,
            timedOut: d.timedOut,
            oomKilled: d.oomKilled
          }
        }
      }
    }
  }
  return { sandboxes: HashMap.set(model.sandboxes, id, next), problems }
}

export const foldSandboxes = <E, R>(records: Stream.Stream<SandboxRecord, E, R>) =>
  Stream.runFold(records, emptySandboxes, (model, record: SandboxRecord) => applyRecord(model, record))

/** A sandbox as the CLI, the TUI and MCP show it (field names are stable for `--json`). */
export interface SandboxView {
  readonly id: string
  readonly name: string
  readonly state: Lifecycle
  readonly template: string
  readonly runner: string
  readonly resources: Resources
  readonly network: Network
  readonly policy: string
  readonly owner: Actor
  readonly agent: string | null
  readonly createdAt: string | null
  readonly updatedAt: string
  readonly expiresAt: string | null
  readonly execCount: number
  readonly runningExecs: number
  readonly lastExec: LastExec | null
  readonly oomKills: number
  readonly pidsLimitHits: number
  readonly stopReason: string | null
  readonly failure: string | null
  /** The runner's handle, for reconciliation; null before provisioning or when redacted. */
  readonly handle: RunnerHandle | null
  readonly revision: number
}

export const viewOf = (entry: SandboxEntry): SandboxView | null => {
  const s = entry.state
  if (s.lifecycle === "initial") return null
  return {
    id: s.sandboxId,
    name: s.name,
    state: s.lifecycle,
    template: s.template.name,
    runner: s.template.runner,
    resources: s.resources,
    network: s.network,
    policy: s.policy,
    owner: s.owner,
    agent: s.agent,
    createdAt: entry.createdAt,
    updatedAt: entry.updatedAt,
    expiresAt: s.expiresAt,
    execCount: s.execCount,
    runningExecs: Object.keys(s.pending).length,
    lastExec: entry.lastExec,
    oomKills: s.counters.oomKills,
    pidsLimitHits: s.counters.pidsLimitHits,
    stopReason: s.stopReason,
    failure: s.failure,
    handle: s.handle,
    revision: entry.revision
  }
}

const byCreation = (a: SandboxView, b: SandboxView) =>
  (a.createdAt ?? "").localeCompare(b.createdAt ?? "") || a.id.localeCompare(b.id)

/** Sandboxes oldest first; destroyed ones only when asked for. */
export const listSandboxes = (model: SandboxesModel, options: { readonly includeDestroyed?: boolean } = {}): ReadonlyArray<SandboxView> => {
  const views: Array<SandboxView> = []
  for (const entry of HashMap.values(model.sandboxes)) {
    const view = viewOf(entry)
    if (view !== null && (options.includeDestroyed === true || view.state !== "destroyed")) views.push(view)
  }
  return views.sort(byCreation)
}

/** Names held by sandboxes not yet destroyed. */
export const namesInUse = (model: SandboxesModel): ReadonlyArray<string> => {
  const names: Array<string> = []
  for (const entry of HashMap.values(model.sandboxes)) if (holdsName(entry.state)) names.push(entry.state.name)
  return names
}

/** By id (any sandbox, destroyed too), else by name among those holding one. */
export const findSandbox = (model: SandboxesModel, nameOrId: string): SandboxEntry | undefined => {
  const byId = HashMap.get(model.sandboxes, nameOrId)
  if (Option.isSome(byId) && byId.value.state.lifecycle !== "initial") return byId.value
  for (const entry of HashMap.values(model.sandboxes)) if (holdsName(entry.state) && entry.state.name === nameOrId) return entry
  return undefined
}
