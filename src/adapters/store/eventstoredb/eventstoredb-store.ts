// The EventStoreDB (KurrentDB) store: records as ESDB events over gRPC, one ESDB stream per record
// stream, global order and subscriptions from $all. TLS and credentials come in the connection string.
import { Context, Duration, Effect, Layer } from "effect"
import { EventStore, StoreUnavailable, type EventStoreShape } from "../event-store.js"
import { makeAppender } from "./appender.js"
import { EsdbBlobStore, makeBlobStore, type BlobStoreShape } from "./blobs.js"
import { makeChainQueries } from "./chain-index.js"
import { call, collectAll, DEFAULT_RETRY_BUDGET, redact, sharedClient } from "./client.js"
import { streamNames } from "./mapping.js"
import { lastRevision, readAll, readAllRaw, readStream, subscribeAll, type ReadContext } from "./reads.js"

export interface EventStoreDbOptions {
  /** `esdb://host:2113?tls=false`, `esdb+discover://user:pass@cluster:2113`, … */
  readonly connection: string
  /** Keeps this store's streams apart from others on the same server: `<namespace>/<stream>`. */
  readonly namespace?: string
  /** How long to keep retrying a call whose connection dropped before reporting the store unavailable. */
  readonly retryFor?: Duration.DurationInput
}

export const makeEventStoreDbStore = (options: EventStoreDbOptions) =>
  Effect.gen(function* () {
    const describe = redact(options.connection)
    const retryBudget = options.retryFor ?? DEFAULT_RETRY_BUDGET
    const client = yield* sharedClient(options.connection)
    const names = streamNames(options.namespace)
    const ctx: ReadContext = { client, names, describe, retryBudget }

    // Reach the server once now, so a wrong address fails at start with one clear message.
    yield* call(describe, "connecting", retryBudget, () => collectAll(client, { maxCount: 1 }))
    const appender = yield* makeAppender({ client, names, describe, retryBudget })
    const chain = makeChainQueries(ctx, appender)

    const store: EventStoreShape = {
      describe,
      append: appender.append,
      readStream: (stream, fromRevision = 0) => readStream(ctx, stream, fromRevision),
      readAll: (from) => readAll(ctx, from),
      subscribeAll: (from) => subscribeAll(ctx, from),
      readAllRaw: (from, chunkSize = 4096) => readAllRaw(ctx, from, chunkSize),
      streamRevision: (stream) => lastRevision(ctx, names.esdbStream(stream)),
      chainHead: chain.chainHead,
      chainHashes: chain.chainHashes,
      findById: chain.findById,
      writers: chain.writers
    }
    const blobs: BlobStoreShape = makeBlobStore({ client, names, describe, retryBudget })
    return { store, blobs }
  })

/** Provides the EventStore, and the blob store beside it on the same connection. */
export const EventStoreDbStoreLive = (options: EventStoreDbOptions): Layer.Layer<EventStore | EsdbBlobStore, StoreUnavailable> =>
  Layer.scopedContext(
    makeEventStoreDbStore(options).pipe(Effect.map(({ store, blobs }) => Context.make(EventStore, store).pipe(Context.add(EsdbBlobStore, blobs))))
  )

export { EsdbBlobStore, type BlobStoreShape }
