// The embedded store: one SQLite file, WAL, synchronous=FULL. Appends made in the same turn of the
// event loop share one transaction and one fsync (group commit); each resolves once that is durable.
// A batch made only of deferred appends commits without the fsync (deferred-sync.ts).
import type BetterSqlite3 from "better-sqlite3"
import { Chunk, Effect, Either, Layer, Option, Stream } from "effect"
import type { LedgerRecord } from "../../../domain/ledger/record.js"
import {
  EventStore,
  StoreCorrupt,
  StoreUnavailable,
  WrongExpectedRevision,
  type AppendResult,
  type EventStoreShape,
  type ExpectedRevision,
  type IndexRow,
  type Position,
  type RawRecord,
  type StoreError,
  type StoredRecord
} from "../event-store.js"
import { fromRow, positionOf, rowidOf, toRowValues, type RecordRow } from "./mapping.js"
import { makeDeferredSync } from "./deferred-sync.js"
import { openDatabase } from "./open-database.js"

export interface SqliteStoreOptions {
  readonly file: string
  readonly readonly?: boolean
  /** how long a live subscription waits before looking for records written by another process */
  readonly pollMillis?: number
  /** how long a deferred append may wait for the disk when no immediate one comes first (default 1) */
  readonly deferredSyncMillis?: number
}

export interface SqliteStoreShape extends EventStoreShape {
  /** Deferred commits not yet known to be on disk (0 after an immediate commit or the background sync). */
  readonly unsyncedCommits: () => number
}

interface PendingAppend {
  readonly stream: string
  readonly records: ReadonlyArray<LedgerRecord>
  readonly expected: ExpectedRevision
  readonly deferred: boolean
  readonly resume: (result: Either.Either<AppendResult, WrongExpectedRevision | StoreError>) => void
}

const PAGE = 512

export const makeSqliteStore = (options: SqliteStoreOptions) =>
  Effect.gen(function* () {
    const file = options.file
    const db: BetterSqlite3.Database = yield* Effect.acquireRelease(
      openDatabase(file, { readonly: options.readonly ?? false }),
      (d) => Effect.sync(() => d.close())
    )
    const syncs = makeDeferredSync(db, `${file}-wal`, options.deferredSyncMillis ?? 1)
    yield* Effect.addFinalizer(() => Effect.sync(() => options.readonly || syncs.close()))
    const sql = {
      revision: db.prepare("SELECT max(revision) FROM records WHERE stream = ?").pluck(),
      insert: options.readonly
        ? undefined
        : db.prepare(
            "INSERT INTO records (id, stream, revision, type, writer, seq, prev, hash, body) VALUES (@id, @stream, @revision, @type, @writer, @seq, @prev, @hash, @body)"
          ),
      byId: db.prepare("SELECT pos, body, stream, revision, hash FROM records WHERE id = ?"),
      stream: db.prepare("SELECT pos, body FROM records WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?"),
      all: db.prepare("SELECT pos, body FROM records WHERE pos > ? ORDER BY pos LIMIT ?"),
      head: db.prepare("SELECT seq, hash FROM records WHERE writer = ? ORDER BY seq DESC LIMIT 1"),
      hashes: db.prepare("SELECT hash FROM records WHERE writer = ? AND seq >= ? AND seq < ? ORDER BY seq").pluck(),
      writers: db.prepare("SELECT DISTINCT writer FROM records").pluck(),
      index: db
        .prepare(
          `SELECT pos, writer, seq, prev, hash, type,
             CASE WHEN type IN ('WriterKeyRegistered', 'WriterKeyRotated', 'Checkpoint') THEN body END
           FROM records WHERE pos > ? ORDER BY pos LIMIT ?`
        )
        .raw()
    }
    const guard = <A>(what: string, f: () => A): Effect.Effect<A, StoreError> =>
      Effect.try({
        try: f,
        catch: (e) => {
          const err = e as { code?: string; message?: string }
          const problem = `${what}: ${err.message ?? String(e)}`
          return err.code === "SQLITE_CORRUPT" || err.code === "SQLITE_NOTADB"
            ? new StoreCorrupt({ store: file, problem })
            : new StoreUnavailable({ store: file, problem })
        }
      })

    // Group commit: everything queued before the flush runs commits in one transaction. Single appends
    // wait a tick for company; `appendMany` (the ledger's writer, which has already gathered what
    // waits into one call) commits at once, since waiting a tick would only delay it.
    let queue: Array<PendingAppend> = []
    const listeners = new Set<() => void>()
    // One transaction function for every batch (better-sqlite3 builds a wrapper per `transaction` call).
    const commitBatch = options.readonly
      ? undefined
      : db.transaction((batch: ReadonlyArray<PendingAppend>, results: Array<Either.Either<AppendResult, WrongExpectedRevision | StoreError>>) => {
          for (const req of batch) results.push(applyOne(req))
        })
    const flush = () => {
      const batch = queue
      // an `appendMany` may have committed what a single append's tick was waiting for
      if (batch.length === 0) return
      queue = []
      const results: Array<Either.Either<AppendResult, WrongExpectedRevision | StoreError>> = []
      const deferred = batch.every((req) => req.deferred)
      try {
        syncs.begin(deferred)
        commitBatch!(batch, results)
        syncs.committed(deferred)
      } catch (e) {
        const err = new StoreUnavailable({ store: file, problem: `commit failed: ${(e as Error).message}` })
        for (const req of batch) req.resume(Either.left(err))
        return
      }
      batch.forEach((req, i) => req.resume(results[i]!))
      for (const notify of listeners) notify()
    }

    const applyOne = (req: PendingAppend): Either.Either<AppendResult, WrongExpectedRevision | StoreError> => {
      const current = sql.revision.get(req.stream) as number | null
      const first = req.records[0]
      // A retry of an append that already landed (same ids, same places) succeeds without a copy.
      if (first) {
        const existing = sql.byId.get(first.id) as { pos: number; stream: string; revision: number; hash: string } | undefined
        if (existing) {
          if (existing.stream === req.stream && existing.revision === first.revision && existing.hash === first.hash) {
            const positions = req.records.map((r) => positionOf((sql.byId.get(r.id) as { pos: number }).pos))
            return Either.right({ nextExpectedRevision: first.revision + req.records.length - 1, positions })
          }
          return Either.left(new StoreCorrupt({ store: file, problem: `record id ${first.id} already stored elsewhere` }))
        }
      }
      const ok =
        req.expected === "any" ||
        (req.expected === "no_stream" ? current === null : current === req.expected)
      if (!ok) return Either.left(new WrongExpectedRevision({ stream: req.stream, expected: req.expected, actual: current }))
      const base = current === null ? 0 : current + 1
      const positions: Array<Position> = []
      for (let i = 0; i < req.records.length; i++) {
        const record = req.records[i]!
        if (record.stream !== req.stream || record.revision !== base + i)
          return Either.left(
            new StoreUnavailable({
              store: file,
              problem: `record ${record.id} carries stream ${record.stream} revision ${record.revision}, expected ${req.stream} revision ${base + i}`
            })
          )
      }
      try {
        for (const record of req.records) positions.push(positionOf(sql.insert!.run(toRowValues(record)).lastInsertRowid))
      } catch (e) {
        throw e // aborts the whole transaction: a constraint failure here means the batch is unsafe
      }
      return Either.right({ nextExpectedRevision: base + req.records.length - 1, positions })
    }

    const append: EventStoreShape["append"] = (stream, records, expected, durability) =>
      options.readonly
        ? Effect.fail(new StoreUnavailable({ store: file, problem: "opened read-only" }))
        : Effect.async<AppendResult, WrongExpectedRevision | StoreError>((resume) => {
            if (queue.length === 0) setImmediate(flush)
            queue.push({
              stream,
              records,
              expected,
              deferred: durability === "deferred",
              resume: (r) => resume(Either.isRight(r) ? Effect.succeed(r.right) : Effect.fail(r.left))
            })
          })

    const appendManyImpl: NonNullable<EventStoreShape["appendMany"]> = (requests) =>
      options.readonly
        ? Effect.succeed(requests.map(() => Either.left(new StoreUnavailable({ store: file, problem: "opened read-only" }))))
        : Effect.async((resume) => {
            const results: Array<Either.Either<AppendResult, WrongExpectedRevision | StoreError>> = new Array(requests.length)
            let left = requests.length
            if (left === 0) return resume(Effect.succeed([]))
            requests.forEach((r, i) =>
              queue.push({
                stream: r.stream,
                records: r.records,
                expected: r.expected,
                deferred: r.durability === "deferred",
                resume: (result) => {
                  results[i] = result
                  if (--left === 0) resume(Effect.succeed(results))
                }
              })
            )
            flush()
          })

    const decodeRows = (rows: ReadonlyArray<RecordRow>): Effect.Effect<Chunk.Chunk<StoredRecord>, StoreError> =>
      Effect.forEach(rows, (row) =>
        Either.match(fromRow(row), {
          onLeft: (problem) => Effect.fail(new StoreCorrupt({ store: file, problem })),
          onRight: Effect.succeed
        })
      ).pipe(Effect.map(Chunk.fromIterable))

    const pagesAfter = (after: number) =>
      Stream.paginateChunkEffect(after, (cursor) =>
        guard("read", () => sql.all.all(cursor, PAGE) as Array<RecordRow>).pipe(
          Effect.flatMap((rows) =>
            decodeRows(rows).pipe(
              Effect.map((chunk) => [chunk, rows.length < PAGE ? Option.none() : Option.some(rows[rows.length - 1]!.pos)] as const)
            )
          )
        )
      )

    const readAll: EventStoreShape["readAll"] = (from) => pagesAfter(rowidOf(from))

    const readStream: EventStoreShape["readStream"] = (stream, fromRevision = 0) =>
      Stream.paginateChunkEffect(fromRevision, (rev) =>
        guard("read", () => sql.stream.all(stream, rev, PAGE) as Array<RecordRow>).pipe(
          Effect.flatMap((rows) =>
            decodeRows(rows).pipe(
              Effect.map((chunk) => [chunk, rows.length < PAGE ? Option.none() : Option.some(rev + rows.length)] as const)
            )
          )
        )
      )

    const readAllRaw: EventStoreShape["readAllRaw"] = (from, chunkSize = 4096) =>
      Stream.paginateEffect(rowidOf(from), (cursor) =>
        guard("read", () => sql.all.all(cursor, chunkSize) as Array<RecordRow>).pipe(
          Effect.map((rows) => {
            const chunk: ReadonlyArray<RawRecord> = rows.map((r) => ({ position: positionOf(r.pos), body: r.body }))
            return [chunk, rows.length < chunkSize ? Option.none() : Option.some(rows[rows.length - 1]!.pos)] as const
          })
        )
      ).pipe(Stream.filter((chunk) => chunk.length > 0))

    const readIndex = (chunkSize = 8192) =>
      Stream.paginateEffect(0, (cursor: number) =>
        guard("read", () => sql.index.all(cursor, chunkSize) as Array<[number, string, number, string | null, string, string, string | null]>).pipe(
          Effect.map((rows) => {
            const chunk: ReadonlyArray<IndexRow> = rows.map(([pos, writer, seq, prev, hash, type, body]) => ({
              position: positionOf(pos),
              writer,
              seq,
              prev,
              hash,
              type,
              body
            }))
            return [chunk, rows.length < chunkSize ? Option.none() : Option.some(rows[rows.length - 1]![0])] as const
          })
        )
      ).pipe(Stream.filter((chunk) => chunk.length > 0))

    // Live: wake on our own commits, and poll for commits made by another process.
    const waitForMore = Effect.async<void>((resume) => {
      const timer = setTimeout(done, options.pollMillis ?? 200)
      function done() {
        clearTimeout(timer)
        listeners.delete(done)
        resume(Effect.void)
      }
      listeners.add(done)
      return Effect.sync(() => {
        clearTimeout(timer)
        listeners.delete(done)
      })
    })

    const subscribeAll: EventStoreShape["subscribeAll"] = (from) =>
      Stream.paginateChunkEffect(rowidOf(from), (cursor) =>
        guard("read", () => sql.all.all(cursor, PAGE) as Array<RecordRow>).pipe(
          Effect.flatMap((rows) =>
            rows.length === 0
              ? waitForMore.pipe(Effect.as([Chunk.empty<StoredRecord>(), Option.some(cursor)] as const))
              : decodeRows(rows).pipe(Effect.map((chunk) => [chunk, Option.some(rows[rows.length - 1]!.pos)] as const))
          )
        )
      )

    const shape: SqliteStoreShape = {
      describe: file,
      append,
      appendMany: appendManyImpl,
      readStream,
      readAll,
      subscribeAll,
      readAllRaw,
      readIndex,
      streamRevision: (stream) => guard("read", () => (sql.revision.get(stream) as number | null) ?? null),
      chainHead: (writer) => guard("read", () => (sql.head.get(writer) as { seq: number; hash: string } | undefined) ?? null),
      chainHashes: (writer, fromSeq, toSeq) => guard("read", () => sql.hashes.all(writer, fromSeq, toSeq) as Array<string>),
      findById: (id) =>
        guard("read", () => sql.byId.get(id) as RecordRow | undefined).pipe(
          Effect.flatMap((row) =>
            row === undefined
              ? Effect.succeed(null)
              : Either.match(fromRow(row), {
                  onLeft: (problem) => Effect.fail(new StoreCorrupt({ store: file, problem })),
                  onRight: (r) => Effect.succeed(r)
                })
          )
        ),
      writers: guard("read", () => sql.writers.all() as Array<string>),
      unsyncedCommits: syncs.unsynced
    }
    return shape
  })

export const SqliteStoreLive = (options: SqliteStoreOptions) => Layer.scoped(EventStore, makeSqliteStore(options))

/** The raw database handle, for verification's fast path and for tests that tamper with bytes. */
export type { BetterSqlite3 }
