// Appends, one at a time in the order they were asked for: a writer's records must reach $all in
// chain order, and the client gives no ordering guarantee between calls in flight together (it
// can swap them while it re-creates its BatchAppend stream after a reconnect). An append whose outcome
// is unknown (the connection dropped) is retried with backoff before the next is sent; retries are
// idempotent because records carry their exact revision and their id is the event id. The chain
// index entries (`chain-<writer>`) of each append ride along with the next one, which is safe to
// pipeline: index appends of one writer never share a call.
import { Deferred, Duration, Effect, Either, Fiber, Queue, Schedule } from "effect"
import type { AppendResult as EsdbAppendResult, EventData } from "@eventstore/db-client"
import type { LedgerRecord } from "../../../domain/ledger/record.js"
import {
  StoreCorrupt,
  StoreUnavailable,
  WrongExpectedRevision,
  type AppendResult,
  type ExpectedRevision,
  type Position,
  type StoreError
} from "../event-store.js"
import { backoff, collectStream, describeError, errorType, isTransient, type Client } from "./client.js"
import {
  baseRevision,
  esdbExpected,
  fromEsdbRevision,
  indexEntryOf,
  stampedFor,
  toEventData,
  toIndexEvent,
  toPosition,
  type ChainIndexEntry,
  type StreamNames
} from "./mapping.js"

type AppendError = WrongExpectedRevision | StoreError

type Job =
  | {
      readonly kind: "append"
      readonly stream: string
      readonly records: ReadonlyArray<LedgerRecord>
      readonly expected: ExpectedRevision
      readonly done: Deferred.Deferred<AppendResult, AppendError>
    }
  | { readonly kind: "index"; readonly writer: string; readonly entries: ReadonlyArray<ChainIndexEntry>; readonly done: Deferred.Deferred<void> }
  | { readonly kind: "barrier"; readonly done: Deferred.Deferred<void> }

type AppendJob = Extract<Job, { kind: "append" }>

/** One ESDB append as sent on the wire. */
interface Op {
  readonly stream: string
  readonly events: ReadonlyArray<EventData>
  readonly expected: "no_stream" | bigint
}

type Outcome = Either.Either<EsdbAppendResult, unknown>

export interface AppenderOptions {
  readonly client: Client
  readonly names: StreamNames
  readonly describe: string
  readonly retryBudget: Duration.DurationInput
}

export interface Appender {
  readonly append: (stream: string, records: ReadonlyArray<LedgerRecord>, expected: ExpectedRevision) => Effect.Effect<AppendResult, AppendError>
  /** Writes chain index entries (a repair), in order with every other write. */
  readonly writeIndex: (writer: string, entries: ReadonlyArray<ChainIndexEntry>) => Effect.Effect<void>
  /** Completes once every append asked for before it, and its chain index entries, are written. */
  readonly barrier: Effect.Effect<void>
}

const INDEX_EVENTS_PER_APPEND = 256

export const makeAppender = (options: AppenderOptions) =>
  Effect.gen(function* () {
    const { client, names, describe } = options
    const queue = yield* Queue.unbounded<Job>()
    const unavailable = (problem: string) => new StoreUnavailable({ store: describe, problem })

    // Sends ops that need no order among themselves together; retries those whose outcome is unknown.
    const sendTogether = (ops: ReadonlyArray<Op>) =>
      Effect.gen(function* () {
        const outcomes: Array<Outcome> = new Array(ops.length)
        if (ops.length === 0) return outcomes
        const driver = yield* Schedule.driver(backoff(options.retryBudget))
        let pending = ops.map((_, i) => i)
        while (pending.length > 0) {
          const settled = yield* Effect.promise(() =>
            Promise.allSettled(pending.map((i) => client.appendToStream(ops[i]!.stream, [...ops[i]!.events], { expectedRevision: ops[i]!.expected })))
          )
          const again: Array<number> = []
          settled.forEach((s, k) => {
            const i = pending[k]!
            outcomes[i] = s.status === "fulfilled" ? Either.right(s.value) : Either.left(s.reason)
            if (s.status === "rejected" && isTransient(s.reason)) again.push(i)
          })
          pending = again
          if (pending.length > 0 && Either.isLeft(yield* Effect.either(driver.next(undefined)))) break
        }
        return outcomes
      })

    /** The records as stored at their revisions, with positions, or null if they are not all there. */
    const storedAt = (job: AppendJob, budget: Duration.DurationInput) =>
      Effect.tryPromise({
        try: () =>
          collectStream(client, names.esdbStream(job.stream), { fromRevision: BigInt(job.records[0]!.revision), maxCount: job.records.length }),
        catch: (e) => e
      }).pipe(
        Effect.retry({ schedule: backoff(budget), while: isTransient }),
        Effect.mapError((e) => unavailable(`reading back ${job.stream}: ${describeError(e)}`)),
        Effect.map((events) => {
          if (events === null || events.length !== job.records.length) return null
          const positions: Array<Position> = []
          for (let i = 0; i < events.length; i++) {
            const e = events[i]!.event
            if (e === undefined || e.id !== job.records[i]!.id || e.position === undefined) return null
            positions.push(toPosition(e.position))
          }
          return positions
        })
      )

    const success = (job: AppendJob, positions: ReadonlyArray<Position>): AppendResult => ({
      nextExpectedRevision: job.records[job.records.length - 1]!.revision,
      positions
    })

    /** What the caller is told, from what the server said (and, when unsure, what a read shows). */
    const settle = (job: AppendJob, outcome: Outcome): Effect.Effect<AppendResult, AppendError> =>
      Effect.gen(function* () {
        if (Either.isRight(outcome)) {
          const position = outcome.right.position
          if (job.records.length === 1 && position !== undefined) return success(job, [toPosition(position)])
          const positions = yield* storedAt(job, options.retryBudget)
          if (positions === null) return yield* new StoreCorrupt({ store: describe, problem: `${job.stream}: the server confirmed an append that reading back does not show` })
          return success(job, positions)
        }
        const error = outcome.left
        // Already there at these revisions (a retry of an append that landed): done.
        const landed = yield* storedAt(job, isTransient(error) ? Duration.zero : options.retryBudget).pipe(Effect.orElseSucceed(() => null))
        if (landed !== null) return success(job, landed)
        if (errorType(error) === "wrong-expected-version") {
          const actual = fromEsdbRevision((error as { actualVersion?: bigint | "no_stream" }).actualVersion)
          if (job.expected !== "any") return yield* new WrongExpectedRevision({ stream: job.stream, expected: job.expected, actual })
          const first = job.records[0]!
          return yield* unavailable(`record ${first.id} carries ${job.stream} revision ${first.revision}, but the stream is at ${actual === null ? "no stream" : `revision ${actual}`}`)
        }
        if (isTransient(error))
          return yield* unavailable(
            `append to ${job.stream} not confirmed (${describeError(error)}); it may or may not have been written, and retrying the same records is safe`
          )
        return yield* unavailable(`append to ${job.stream}: ${describeError(error)}`)
      })

    /** Records that cannot go where the caller says: report what the store holds there instead. */
    const misstamped = (job: AppendJob, base: number): Effect.Effect<AppendResult, AppendError> =>
      Effect.gen(function* () {
        if (job.records.length > 0) {
          const landed = yield* storedAt(job, options.retryBudget).pipe(Effect.orElseSucceed(() => null))
          if (landed !== null) return success(job, landed)
        }
        const events = yield* Effect.tryPromise({
          try: () => collectStream(client, names.esdbStream(job.stream), { direction: "backwards", fromRevision: "end", maxCount: 1 }),
          catch: (e) => unavailable(`reading ${job.stream}: ${describeError(e)}`)
        })
        const current = events?.[0]?.event ? Number(events[0].event.revision) : null
        const ok = job.expected === "any" || (job.expected === "no_stream" ? current === null : current === job.expected)
        if (!ok) return yield* new WrongExpectedRevision({ stream: job.stream, expected: job.expected, actual: current })
        if (job.records.length === 0) return { nextExpectedRevision: current ?? -1, positions: [] }
        const bad = stampedFor(job.stream, base, job.records)!
        const at = base + job.records.indexOf(bad)
        return yield* unavailable(`record ${bad.id} carries stream ${bad.stream} revision ${bad.revision}, expected ${job.stream} revision ${at}`)
      })

    type Written = { readonly writer: string; readonly entry: ChainIndexEntry }

    /**
     * Index appends for what was appended, in rounds: per writer, consecutive seqs at event number =
     * seq; a round holds at most one append per writer, so a round's appends need no order.
     */
    const indexRounds = (entries: ReadonlyArray<Written>): Array<Array<Op>> => {
      const byWriter = new Map<string, Array<ChainIndexEntry>>()
      for (const { writer, entry } of entries) {
        const list = byWriter.get(writer) ?? []
        list.push(entry)
        byWriter.set(writer, list)
      }
      const rounds: Array<Array<Op>> = []
      for (const [writer, list] of byWriter) {
        let round = 0
        let run: Array<ChainIndexEntry> = []
        const flush = () => {
          if (run.length > 0) (rounds[round++] ??= []).push({ stream: names.chainIndex(writer), events: run.map(toIndexEvent), expected: esdbExpected(run[0]!.seq) })
          run = []
        }
        for (const entry of list) {
          const last = run[run.length - 1]
          if (last !== undefined && (entry.seq !== last.seq + 1 || run.length >= INDEX_EVENTS_PER_APPEND)) flush()
          run.push(entry)
        }
        flush()
      }
      return rounds
    }

    // Index entries not yet written; they ride along with the next append.
    let carried: Array<Written> = []

    const flushIndex = Effect.gen(function* () {
      const rounds = indexRounds(carried)
      carried = []
      for (const round of rounds) yield* sendTogether(round)
    })

    const processAppend = (job: AppendJob) =>
      Effect.gen(function* () {
        const base = baseRevision(job.expected, job.records)
        if (job.records.length === 0 || stampedFor(job.stream, base, job.records) !== null) {
          const result = yield* Effect.either(misstamped(job, base))
          return yield* Deferred.complete(job.done, result)
        }
        if (indexRounds(carried).length > 1) yield* flushIndex
        const op: Op = { stream: names.esdbStream(job.stream), events: job.records.map(toEventData), expected: esdbExpected(base) }
        const outcomes = yield* sendTogether([...(indexRounds(carried)[0] ?? []), op])
        carried = []
        const result = yield* Effect.either(settle(job, outcomes[outcomes.length - 1]!))
        yield* Deferred.complete(job.done, result)
        if (Either.isRight(result)) carried = job.records.map((r, k) => ({ writer: r.chain.writer, entry: indexEntryOf(r, result.right.positions[k]!) }))
      })

    const process = (job: Job) =>
      Effect.gen(function* () {
        if (job.kind === "append") {
          yield* processAppend(job)
          // Index entries ride along with the next append, unless none is waiting.
          if ((yield* Queue.size(queue)) === 0) yield* flushIndex
          return
        }
        if (job.kind === "index") carried = [...carried, ...job.entries.map((entry) => ({ writer: job.writer, entry }))]
        yield* flushIndex
        yield* Deferred.succeed(job.done, undefined)
      })

    const loop = yield* Effect.forkDaemon(Effect.forever(Queue.take(queue).pipe(Effect.flatMap((job) => Effect.uninterruptible(process(job))))))
    // On close: finish the append in hand, refuse what was never sent, write the index entries left.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        yield* Fiber.interrupt(loop)
        const rest = yield* Queue.takeAll(queue)
        for (const job of rest)
          if (job.kind === "append") yield* Deferred.fail(job.done, unavailable("the store was closed before this append was sent"))
          else yield* Deferred.succeed(job.done, undefined)
        yield* flushIndex.pipe(Effect.timeout(options.retryBudget), Effect.ignore)
      })
    )

    const appender: Appender = {
      append: (stream, records, expected) =>
        Effect.gen(function* () {
          const done = yield* Deferred.make<AppendResult, AppendError>()
          yield* Queue.offer(queue, { kind: "append", stream, records, expected, done })
          return yield* Deferred.await(done)
        }),
      writeIndex: (writer, entries) =>
        Effect.gen(function* () {
          const done = yield* Deferred.make<void>()
          yield* Queue.offer(queue, { kind: "index", writer, entries, done })
          yield* Deferred.await(done)
        }),
      barrier: Effect.gen(function* () {
        const done = yield* Deferred.make<void>()
        yield* Queue.offer(queue, { kind: "barrier", done })
        yield* Deferred.await(done)
      })
    }
    return appender
  })
