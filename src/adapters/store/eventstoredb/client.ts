// The gRPC client and the failures it reports: which ones a retry may cure (the connection dropped, the
// server was busy or not the leader) and the backoff that retries them. Reads and appends both use it.
import { EventStoreDBClient, type AllStreamResolvedEvent, type ReadAllOptions, type ReadStreamOptions, type ResolvedEvent } from "@eventstore/db-client"
import { Duration, Effect, Schedule, type Scope } from "effect"
import { StoreUnavailable } from "../event-store.js"

export type Client = EventStoreDBClient

/** The connection string with any password hidden, for messages. */
export const redact = (connection: string): string => connection.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")

export const connect = (connection: string): Effect.Effect<Client, StoreUnavailable> =>
  Effect.try({
    try: () => EventStoreDBClient.connectionString(connection),
    catch: (e) => new StoreUnavailable({ store: redact(connection), problem: `bad connection string: ${(e as Error).message}` })
  })

/**
 * One client per connection string in a process, shared and disposed with its last user. The client
 * keeps pending BatchAppend replies in one module-wide table: a second client that fails or is
 * disposed rejects the first one's pending appends and then crashes on their replies
 * (kurrent-io/KurrentDB-Client-NodeJS#523, fixed only in its successor package).
 */
const shared = new Map<string, { readonly client: Client; users: number }>()

export const sharedClient = (connection: string): Effect.Effect<Client, StoreUnavailable, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      const entry = shared.get(connection)
      if (entry !== undefined) {
        entry.users += 1
        return Effect.succeed(entry.client)
      }
      return Effect.tap(connect(connection), (client) => Effect.sync(() => shared.set(connection, { client, users: 1 })))
    }),
    (client) =>
      Effect.suspend(() => {
        const entry = shared.get(connection)
        if (entry === undefined || entry.client !== client) return Effect.void
        entry.users -= 1
        if (entry.users > 0) return Effect.void
        shared.delete(connection)
        return Effect.promise(() => client.dispose())
      })
  )

const TRANSIENT = new Set(["unavailable", "cancelled", "deadline-exceeded", "timeout", "not-leader"])

/** The client's errors carry a `type`; these ones mean the outcome is unknown and a retry is safe. */
export const isTransient = (e: unknown): boolean =>
  typeof e === "object" && e !== null && "type" in e && typeof e.type === "string" && TRANSIENT.has(e.type)

export const errorType = (e: unknown): string | null =>
  typeof e === "object" && e !== null && "type" in e && typeof e.type === "string" ? e.type : null

export const describeError = (e: unknown): string => {
  const message = e instanceof Error ? e.message : String(e)
  const type = errorType(e)
  return type === null || message.includes(type) ? message : `${type}: ${message}`
}

/** Exponential backoff from 20 ms, capped at 1 s a wait, given up after `budget` of trying. */
export const backoff = (budget: Duration.DurationInput) =>
  Schedule.exponential("20 millis").pipe(Schedule.union(Schedule.spaced("1 second")), Schedule.upTo(budget))

/** A client call as an Effect, retried with backoff while it fails in a way a retry may cure. */
export const call = <A>(store: string, what: string, budget: Duration.DurationInput, f: () => Promise<A>): Effect.Effect<A, StoreUnavailable> =>
  Effect.tryPromise({ try: f, catch: (e) => e }).pipe(
    Effect.retry({ schedule: backoff(budget), while: isTransient }),
    Effect.mapError((e) => new StoreUnavailable({ store, problem: `${what}: ${describeError(e)}` }))
  )

/** Collects a finite read; a read of a stream that does not exist gives null. */
export const collectStream = (client: Client, stream: string, options: ReadStreamOptions): Promise<Array<ResolvedEvent> | null> =>
  collect(() => client.readStream(stream, options)).catch((e: unknown) => {
    if (errorType(e) === "stream-not-found") return null
    throw e
  })

export const collectAll = (client: Client, options: ReadAllOptions): Promise<Array<AllStreamResolvedEvent>> =>
  collect(() => client.readAll(options))

const collect = async <A>(open: () => AsyncIterable<A>): Promise<Array<A>> => {
  const out: Array<A> = []
  for await (const e of open()) out.push(e)
  return out
}

export const DEFAULT_RETRY_BUDGET = Duration.seconds(30)
