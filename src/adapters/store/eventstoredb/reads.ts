// Reading: $all in pages (each page a resumable read from the last position seen), streams in pages,
// and the $all subscription, resubscribed after a dropped connection from the last event it delivered.
import type { AllStreamRecordedEvent } from "@eventstore/db-client"
import { Chunk, Duration, Effect, Either, Option, Schedule, Stream } from "effect"
import { decodeLedgerRecordJson } from "../../../domain/ledger/record.js"
import { comparePositions, StoreCorrupt, StoreUnavailable, type Position, type RawRecord, type StoreError, type StoredRecord } from "../event-store.js"
import { backoff, call, collectAll, collectStream, describeError, isTransient, type Client } from "./client.js"
import { bodyOf, esdbFrom, isRecordEvent, toPosition, type RecordedEsdbEvent, type StreamNames } from "./mapping.js"

export interface ReadContext {
  readonly client: Client
  readonly names: StreamNames
  readonly describe: string
  readonly retryBudget: Duration.DurationInput
}

const PAGE = 1024

/** Every event of $all strictly after `from` (system events included), a page at a time. */
export const allPages = (ctx: ReadContext, from: Position | undefined, size = PAGE): Stream.Stream<ReadonlyArray<AllStreamRecordedEvent>, StoreUnavailable> =>
  Stream.paginateEffect(from, (cursor) =>
    call(ctx.describe, "reading $all", ctx.retryBudget, () => collectAll(ctx.client, { fromPosition: esdbFrom(cursor), maxCount: Math.max(2, size) })).pipe(
      Effect.map((resolved) => {
        const events: Array<AllStreamRecordedEvent> = []
        for (const r of resolved)
          if (r.event !== undefined && (cursor === undefined || comparePositions(toPosition(r.event.position), cursor) > 0)) events.push(r.event)
        const last = resolved[resolved.length - 1]?.event
        const next = resolved.length < Math.max(2, size) || last === undefined ? Option.none() : Option.some<Position | undefined>(toPosition(last.position))
        return [events, next] as const
      })
    )
  )

const corrupt = (ctx: ReadContext, where: string, message: string) =>
  new StoreCorrupt({ store: ctx.describe, problem: `record at ${where} does not decode: ${message.split("\n").slice(0, 3).join(" ")}` })

/** A stored record, decoded strictly, or the reason it is not one. */
export const decodeStored = (ctx: ReadContext, event: RecordedEsdbEvent): Either.Either<StoredRecord, StoreCorrupt> => {
  const where = `${event.streamId}@${event.revision}`
  if (event.position === undefined) return Either.left(new StoreCorrupt({ store: ctx.describe, problem: `${where} has no $all position` }))
  const position = toPosition(event.position)
  return Either.mapBoth(decodeLedgerRecordJson(bodyOf(event)), {
    onLeft: (e) => corrupt(ctx, where, e.message),
    onRight: (record) => ({ position, record })
  })
}

const decodeAll = (ctx: ReadContext, events: ReadonlyArray<RecordedEsdbEvent>) =>
  Effect.forEach(events, (e) => decodeStored(ctx, e)).pipe(Effect.map(Chunk.fromIterable))

export const readAll = (ctx: ReadContext, from: Position | undefined): Stream.Stream<StoredRecord, StoreError> =>
  allPages(ctx, from).pipe(
    Stream.mapEffect((events) => decodeAll(ctx, events.filter((e) => isRecordEvent(ctx.names, e)))),
    Stream.flattenChunks
  )

export const readAllRaw = (ctx: ReadContext, from: Position | undefined, chunkSize: number): Stream.Stream<ReadonlyArray<RawRecord>, StoreError> =>
  allPages(ctx, from, chunkSize).pipe(
    Stream.map((events) => events.filter((e) => isRecordEvent(ctx.names, e)).map((e): RawRecord => ({ position: toPosition(e.position), body: bodyOf(e) }))),
    Stream.filter((chunk) => chunk.length > 0)
  )

export const readStream = (ctx: ReadContext, stream: string, fromRevision: number): Stream.Stream<StoredRecord, StoreError> =>
  Stream.paginateChunkEffect(fromRevision, (revision) =>
    call(ctx.describe, `reading ${stream}`, ctx.retryBudget, () =>
      collectStream(ctx.client, ctx.names.esdbStream(stream), { fromRevision: BigInt(revision), maxCount: PAGE })
    ).pipe(
      Effect.flatMap((resolved) => {
        const events = (resolved ?? []).flatMap((r) => (r.event === undefined ? [] : [r.event]))
        return decodeAll(ctx, events).pipe(
          Effect.map((chunk) => [chunk, resolved === null || resolved.length < PAGE ? Option.none() : Option.some(revision + resolved.length)] as const)
        )
      })
    )
  )

/** The revision of a stream's last event, or null when the stream does not exist. */
export const lastRevision = (ctx: ReadContext, esdbStream: string): Effect.Effect<number | null, StoreUnavailable> =>
  call(ctx.describe, `reading ${esdbStream}`, ctx.retryBudget, () =>
    collectStream(ctx.client, esdbStream, { direction: "backwards", fromRevision: "end", maxCount: 1 })
  ).pipe(Effect.map((resolved) => (resolved?.[0]?.event === undefined ? null : Number(resolved[0].event.revision))))

/** $all from `from`: the server catches up and then goes live; a dropped connection resubscribes after
 * the last event delivered, so nothing is skipped or repeated across the reconnect. */
export const subscribeAll = (ctx: ReadContext, from: Position | undefined): Stream.Stream<StoredRecord, StoreError> => {
  let last = from
  const once = Stream.suspend(() =>
    Stream.acquireRelease(
      Effect.sync(() => ctx.client.subscribeToAll({ fromPosition: esdbFrom(last) })),
      (subscription) => Effect.promise(() => subscription.unsubscribe())
    ).pipe(Stream.flatMap((subscription) => Stream.fromAsyncIterable(subscription, (e) => e)))
  )
  return once.pipe(
    Stream.tap((resolved) =>
      Effect.sync(() => {
        if (resolved.event !== undefined) last = toPosition(resolved.event.position)
      })
    ),
    Stream.retry(backoff(ctx.retryBudget).pipe(Schedule.whileInput(isTransient))),
    Stream.mapError((e) => new StoreUnavailable({ store: ctx.describe, problem: `subscription to $all: ${describeError(e)}` })),
    Stream.filterMap((resolved) => (resolved.event !== undefined && isRecordEvent(ctx.names, resolved.event) ? Option.some(resolved.event) : Option.none())),
    Stream.mapEffect((event) => decodeStored(ctx, event))
  )
}
