// Chain queries. `chain-<writer>` holds one small entry per record of the writer's chain at event
// number = seq, written through after each append, so head and hashes are cheap reads. The index may
// lag the records (a crash between the two writes), so a head read is followed by a scan of $all after
// the last indexed record, which repairs the index. findById and writers are plain scans of $all.
import { Effect, Either, Option, Stream } from "effect"
import { decodeLedgerRecord } from "../../../domain/ledger/record.js"
import { StoreCorrupt, type ChainHead, type StoreError, type StoredRecord } from "../event-store.js"
import type { Appender } from "./appender.js"
import { call, collectStream } from "./client.js"
import { chainClaim, fromIndexEvent, indexEntryOf, isRecordEvent, toPosition, type ChainIndexEntry } from "./mapping.js"
import { allPages, decodeStored, type ReadContext } from "./reads.js"

export const makeChainQueries = (ctx: ReadContext, appender: Appender) => {
  const { client, names, describe } = ctx

  const readIndex = (writer: string, from: bigint | "end", count: number, direction: "forwards" | "backwards") =>
    call(describe, `reading ${names.chainIndex(writer)}`, ctx.retryBudget, () =>
      collectStream(client, names.chainIndex(writer), { fromRevision: from, maxCount: count, direction })
    ).pipe(
      Effect.flatMap((resolved) =>
        Effect.forEach(resolved ?? [], (r) => {
          const entry = r.event === undefined ? null : fromIndexEvent(r.event)
          return entry === null
            ? Effect.fail(new StoreCorrupt({ store: describe, problem: `${names.chainIndex(writer)} holds an entry that is not a chain index entry` }))
            : Effect.succeed(entry)
        })
      )
    )

  const indexHead = (writer: string) => readIndex(writer, "end", 1, "backwards").pipe(Effect.map((entries) => entries[0] ?? null))

  /** Records of `writer` after the last indexed one, found in $all and added to the index. */
  const repair = (writer: string, head: ChainIndexEntry | null): Effect.Effect<ChainIndexEntry | null, StoreError> =>
    Effect.gen(function* () {
      const found: Array<ChainIndexEntry> = []
      let next = head === null ? 0 : head.seq + 1
      const from = head === null ? undefined : { commit: head.commit, prepare: head.prepare }
      yield* Stream.runForEach(allPages(ctx, from), (events) =>
        Effect.sync(() => {
          for (const e of events) {
            if (!isRecordEvent(names, e) || chainClaim(e)?.writer !== writer || chainClaim(e)?.seq !== next) continue
            const decoded = decodeLedgerRecord(e.data)
            if (Either.isLeft(decoded) || decoded.right.chain.writer !== writer || decoded.right.chain.seq !== next) continue
            found.push(indexEntryOf(decoded.right, toPosition(e.position)))
            next += 1
          }
        })
      )
      if (found.length === 0) return head
      yield* appender.writeIndex(writer, found)
      return found[found.length - 1]!
    })

  const chainHead = (writer: string): Effect.Effect<ChainHead | null, StoreError> =>
    Effect.gen(function* () {
      yield* appender.barrier
      const head = yield* repair(writer, yield* indexHead(writer))
      return head === null ? null : { seq: head.seq, hash: head.hash }
    })

  const chainHashes = (writer: string, fromSeq: number, toSeq: number): Effect.Effect<ReadonlyArray<string>, StoreError> =>
    Effect.gen(function* () {
      if (toSeq <= fromSeq) return []
      yield* appender.barrier
      let entries = yield* readIndex(writer, BigInt(fromSeq), toSeq - fromSeq, "forwards")
      if (entries.length < toSeq - fromSeq) {
        yield* repair(writer, yield* indexHead(writer))
        entries = yield* readIndex(writer, BigInt(fromSeq), toSeq - fromSeq, "forwards")
      }
      return entries.map((e) => e.hash)
    })

  /** O(records): ESDB has no lookup by event id, so this scans $all. */
  const findById = (id: string): Effect.Effect<StoredRecord | null, StoreError> =>
    allPages(ctx, undefined).pipe(
      Stream.map((events) => events.find((e) => e.id === id && isRecordEvent(names, e))),
      Stream.filterMap(Option.fromNullable),
      Stream.take(1),
      Stream.mapEffect((e) => decodeStored(ctx, e)),
      Stream.runHead,
      Effect.map(Option.getOrNull)
    )

  /** O(records): a scan of $all for the writers its records' metadata name. */
  const writers: Effect.Effect<ReadonlyArray<string>, StoreError> = Stream.runFold(allPages(ctx, undefined), new Set<string>(), (seen, events) => {
    for (const e of events) {
      const writer = isRecordEvent(names, e) ? chainClaim(e)?.writer : undefined
      if (writer !== undefined) seen.add(writer)
    }
    return seen
  }).pipe(Effect.map((seen) => [...seen]))

  return { chainHead, chainHashes, findById, writers }
}
