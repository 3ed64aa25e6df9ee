// Copying a ledger between stores (`hydravisor store copy --from sqlite:PATH --to esdb://…`): every
// record in global order with its bytes and signatures as stored, resumable (records already there are
// confirmed by their idempotent append and counted as skipped), then the copy is verified in full.
import { Data, Effect, Either, Stream, type Layer } from "effect"
import { decodeLedgerRecordJson, type LedgerRecord } from "../../domain/ledger/record.js"
import { verifyLedger, type VerifyReport } from "../ledger/verify.js"
import type { WitnessUnreadable } from "../ledger/witness.js"
import { EventStore, StoreCorrupt, type EventStoreShape, type ExpectedRevision, type Position, type StoreError } from "./event-store.js"
import { EventStoreDbStoreLive } from "./eventstoredb/eventstoredb-store.js"
import { SqliteStoreLive } from "./sqlite/sqlite-store.js"

export type StoreUri = { readonly kind: "sqlite"; readonly file: string } | { readonly kind: "eventstoredb"; readonly connection: string }

export class InvalidStoreUri extends Data.TaggedError("InvalidStoreUri")<{ readonly uri: string; readonly problem: string }> {
  override get message() {
    return `${this.uri}: ${this.problem} (expected sqlite:PATH or esdb://HOST:PORT[?tls=false…])`
  }
}

/** `sqlite:/path/ledger.db` (also `sqlite:///path`) or an EventStoreDB connection string. */
export const parseStoreUri = (uri: string): Either.Either<StoreUri, InvalidStoreUri> => {
  if (uri.startsWith("sqlite:")) {
    const rest = uri.slice("sqlite:".length)
    const file = rest.startsWith("//") ? rest.slice(2) : rest
    return file === "" ? Either.left(new InvalidStoreUri({ uri, problem: "no file after sqlite:" })) : Either.right({ kind: "sqlite", file })
  }
  const scheme = /^(esdb|esdb\+discover):\/\/([^/?#]+)/.exec(uri)
  if (scheme !== null) return Either.right({ kind: "eventstoredb", connection: uri })
  if (/^[a-z+]+:\/\/$/.test(uri) || /^esdb(\+discover)?:/.test(uri)) return Either.left(new InvalidStoreUri({ uri, problem: "no host" }))
  return Either.left(new InvalidStoreUri({ uri, problem: "unknown kind of store" }))
}

/** The store a URI names; sqlite may be opened read-only (EventStoreDB access is what the server grants). */
export const storeLayer = (uri: StoreUri, options: { readonly readonly?: boolean } = {}): Layer.Layer<EventStore, StoreError> =>
  uri.kind === "sqlite" ? SqliteStoreLive({ file: uri.file, readonly: options.readonly ?? false }) : EventStoreDbStoreLive({ connection: uri.connection })

export interface CopyProgress {
  /** records appended to the destination so far */
  readonly copied: number
  /** records the destination already held (an earlier, interrupted copy) */
  readonly skipped: number
  /** the source position copied up to */
  readonly position: Position
}

export interface CopyOptions {
  readonly onProgress?: (progress: CopyProgress) => void
  /** appends in flight at once; the stores keep them in the order they were asked for */
  readonly inFlight?: number
}

export interface CopyReport {
  readonly copied: number
  readonly skipped: number
  readonly verification: VerifyReport
}

interface Run {
  readonly stream: string
  readonly records: Array<LedgerRecord>
  /** whether the destination already holds these records (a run is all one or all the other) */
  readonly present: boolean
}

export const copyStore = (
  from: EventStoreShape,
  to: EventStoreShape,
  options: CopyOptions = {}
): Effect.Effect<CopyReport, StoreError | WitnessUnreadable> =>
  Effect.gen(function* () {
    const known = new Map<string, number | null>()
    const revisionOf = (stream: string) =>
      known.has(stream) ? Effect.succeed(known.get(stream)!) : Effect.tap(to.streamRevision(stream), (r) => Effect.sync(() => known.set(stream, r)))
    let copied = 0
    let skipped = 0

    const appendRun = (run: Run) => {
      const first = run.records[0]!
      const expected: ExpectedRevision = first.revision === 0 ? "no_stream" : first.revision - 1
      return to.append(run.stream, run.records, expected).pipe(
        Effect.catchTag("WrongExpectedRevision", (e) =>
          Effect.fail(
            new StoreCorrupt({
              store: to.describe,
              problem: `holds something else at ${run.stream} revision ${first.revision} than ${from.describe} (${e.message})`
            })
          )
        )
      )
    }

    yield* Stream.runForEach(from.readAllRaw(undefined, 2048), (chunk) =>
      Effect.gen(function* () {
        // Consecutive records of one stream go in one append; runs keep the source's global order.
        const runs: Array<Run> = []
        for (const raw of chunk) {
          const decoded = decodeLedgerRecordJson(raw.body)
          if (Either.isLeft(decoded))
            return yield* new StoreCorrupt({ store: from.describe, problem: `the record at position ${raw.position.commit} does not decode; nothing after it was copied` })
          // The parsed body, not the decoded value, so the copy keeps the stored key order byte for byte.
          const record = JSON.parse(raw.body) as LedgerRecord
          const current = yield* revisionOf(record.stream)
          const present = current !== null && current >= record.revision
          known.set(record.stream, Math.max(current ?? -1, record.revision))
          const last = runs[runs.length - 1]
          if (last?.stream === record.stream && last.present === present && last.records[last.records.length - 1]!.revision + 1 === record.revision)
            last.records.push(record)
          else runs.push({ stream: record.stream, records: [record], present })
        }
        yield* Effect.forEach(runs, appendRun, { concurrency: options.inFlight ?? 256, discard: true })
        for (const run of runs) {
          if (run.present) skipped += run.records.length
          else copied += run.records.length
        }
        options.onProgress?.({ copied, skipped, position: chunk[chunk.length - 1]!.position })
      })
    )
    const verification = yield* verifyLedger(to, { mode: "full" })
    return { copied, skipped, verification }
  })
