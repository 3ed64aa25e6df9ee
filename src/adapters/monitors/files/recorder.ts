// The file monitor's memory of what the ledger says the workspace is (per path: the last recorded
// state, and the text of small text files to diff against), and the step that turns observed changes
// into FileChanged events, appends them in batches and, only once they are durable, moves the memory
// forward. A batch the sink refused leaves the memory where it was, so a later rescan re-emits it.
import { Effect, Either } from "effect"
import type { NewEvent } from "../../../domain/ledger/event-definition.js"
import type { BlobStore } from "../../blobs/blob-store.js"
import type { ObservationSink } from "../monitor.js"
import { classify, type Change, type Observed } from "./changes.js"
import type { EntryState } from "./file-state.js"
import { putBlobs } from "./blob-batch.js"
import { unifiedDiff } from "./unified-diff.js"

export const iso = (ms: number): string => new Date(ms).toISOString()

/** Texts kept to diff against, oldest dropped first past `budget` bytes (UTF-16 length, roughly). */
const makeTextCache = (budget: number) => {
  const texts = new Map<string, string>()
  let total = 0
  const remove = (path: string) => {
    const old = texts.get(path)
    if (old !== undefined) total -= old.length
    texts.delete(path)
  }
  const set = (path: string, text: string | null) => {
    remove(path)
    if (text === null || text.length > budget) return
    texts.set(path, text)
    total += text.length
    for (const [oldest, value] of texts) {
      if (total <= budget) break
      texts.delete(oldest)
      total -= value.length
    }
  }
  return { get: (path: string) => texts.get(path), set, remove }
}

export interface RecorderOptions {
  readonly sandboxId: string
  readonly sink: ObservationSink
  readonly blobs: BlobStore
  readonly maxBatch: number
  readonly textCacheBytes: number
}

export interface AppendOutcome {
  readonly appended: number
  /** Events the sink refused, with its reason; the recorded state was not moved for them. */
  readonly refused: { readonly events: number; readonly reason: string } | null
  /** Diffs that could not be stored (the event then has `diff: null`). */
  readonly diffFailures: ReadonlyArray<string>
}

export const makeRecorder = (options: RecorderOptions) => {
  const recorded = new Map<string, EntryState>()
  const texts = makeTextCache(options.textCacheBytes)

  const remember = (path: string, state: EntryState, text: string | null) => {
    recorded.set(path, state)
    texts.set(path, text)
  }

  const forget = (path: string) => {
    recorded.delete(path)
    texts.remove(path)
  }

  /** The diff of a change against the recorded text, when both versions are known small texts. */
  const patchOf = (change: Change, text: string | null): string | null => {
    if (change.after?.kind !== "file" || text === null) return null
    const old = change.change === "created" ? "" : texts.get(change.previousPath ?? change.path)
    if (old === undefined || old === text) return null
    const from = change.change === "created" ? "/dev/null" : `a/${change.previousPath ?? change.path}`
    return unifiedDiff(old, text, { oldName: from, newName: `b/${change.path}` })
  }

  const diffsOf = (batch: ReadonlyArray<Change>, textOf: ReadonlyMap<string, string | null>, failures: Array<string>) =>
    Effect.gen(function* () {
      const patches = batch.map((change) => patchOf(change, textOf.get(change.path) ?? null))
      const wanted = patches.flatMap((patch, i) => (patch === null ? [] : [i]))
      const stored = yield* putBlobs(options.blobs, wanted.map((i) => Buffer.from(patches[i]!, "utf8")))
      const refs: Array<{ sha256: string; bytes: number } | null> = batch.map(() => null)
      wanted.forEach((i, k) => {
        const result = stored[k]!
        if (Either.isRight(result)) refs[i] = { sha256: result.right.sha256, bytes: result.right.bytes }
        else failures.push(`diff of ${batch[i]!.path} not stored: ${result.left.message}`)
      })
      return refs
    })

  const eventOf = (change: Change, diff: { sha256: string; bytes: number } | null): NewEvent => ({
    type: "FileChanged",
    data: {
      sandboxId: options.sandboxId,
      path: change.path,
      change: change.change,
      previousPath: change.previousPath,
      size: change.after?.size ?? null,
      sha256: change.after?.sha256 ?? null,
      mode: change.after?.mode ?? null,
      diff,
      writes: change.writes,
      firstAt: iso(change.firstAt),
      lastAt: iso(change.lastAt),
      pid: null
    }
  })

  const moveForward = (change: Change, text: string | null) => {
    if (change.previousPath !== null) forget(change.previousPath)
    if (change.after === null) forget(change.path)
    else remember(change.path, change.after, text)
  }

  /** Records `observed` (with the text read with each `after`) as FileChanged events. */
  const record = (observed: ReadonlyArray<Observed>, textOf: ReadonlyMap<string, string | null>) =>
    Effect.gen(function* () {
      const changes = classify(observed)
      const diffFailures: Array<string> = []
      let appended = 0
      let refusedEvents = 0
      let refusedReason = ""
      for (let i = 0; i < changes.length; i += options.maxBatch) {
        const batch = changes.slice(i, i + options.maxBatch)
        const diffs = yield* diffsOf(batch, textOf, diffFailures)
        const events = batch.map((change, k) => eventOf(change, diffs[k] ?? null))
        const result = yield* Effect.either(options.sink.append(events))
        if (Either.isLeft(result)) {
          refusedEvents += events.length
          refusedReason = result.left.reason
          continue
        }
        appended += events.length
        for (const change of batch) moveForward(change, textOf.get(change.path) ?? null)
      }
      const refused = refusedEvents > 0 ? { events: refusedEvents, reason: refusedReason } : null
      return { appended, refused, diffFailures } satisfies AppendOutcome
    })

  return {
    recorded: recorded as ReadonlyMap<string, EntryState>,
    /** The starting point: what was on disk when the monitor started (not recorded as events). */
    baseline: (entries: ReadonlyMap<string, { readonly state: EntryState; readonly text: string | null }>) => {
      for (const [path, entry] of entries) remember(path, entry.state, entry.text)
    },
    record
  }
}

export type Recorder = ReturnType<typeof makeRecorder>
