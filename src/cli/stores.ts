// Opening the ledger for a verb: read-only for auditing verbs, as the writer for verbs that append.
import { existsSync } from "node:fs"
import { Effect, Either, Layer } from "effect"
import { LedgerLive, type LedgerOptions } from "../adapters/ledger/ledger.js"
import { EventStore, StoreUnavailable, type StoreError } from "../adapters/store/event-store.js"
import { parseStoreUri, storeLayer, type InvalidStoreUri } from "../adapters/store/copy.js"
import { SqliteStoreLive } from "../adapters/store/sqlite/sqlite-store.js"
import { cliConfig, ledgerOptionsOf } from "./config.js"
import type { Config } from "../domain/config/config.js"
import { ledgerPath } from "./data-dir.js"

export const readOnlyStoreLayer = (dataDir: string) => {
  const file = ledgerPath(dataDir)
  return existsSync(dataDir)
    ? SqliteStoreLive({ file, readonly: true })
    : Layer.fail(new StoreUnavailable({ store: dataDir, problem: "no such data directory (pass --data-dir or set HYDRAVISOR_DATA_DIR)" }))
}

/** The writer's store: `store.kind: eventstoredb` with `store.connection`, else the data dir's SQLite file. */
export const configuredStoreLayer = (dataDir: string, config: Config) =>
  config.store.kind === "eventstoredb" && config.store.connection !== undefined
    ? storeLayer({ kind: "eventstoredb", connection: config.store.connection })
    : SqliteStoreLive({ file: config.store.connection ?? ledgerPath(dataDir) })

/** The store and a ledger writer, configured from the config file and environment, then `options`. */
export const writerLayer = (dataDir: string, options: Partial<LedgerOptions> = {}) =>
  Layer.unwrapEffect(
    cliConfig().pipe(
      Effect.map(({ config }) => {
        const store = configuredStoreLayer(dataDir, config)
        return Layer.merge(store, LedgerLive({ dataDir, ...ledgerOptionsOf(config), ...options }).pipe(Layer.provide(store)))
      })
    )
  )

/** A read-only store for an auditing verb: the data dir's SQLite file, or the store a URI names. */
export function withReadOnlyStore<A, E, R>(dataDir: string, f: (store: EventStore["Type"]) => Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreError | InvalidStoreUri, R>
export function withReadOnlyStore<A, E, R>(dataDir: string, uri: string | undefined, f: (store: EventStore["Type"]) => Effect.Effect<A, E, R>): Effect.Effect<A, E | StoreError | InvalidStoreUri, R>
export function withReadOnlyStore<A, E, R>(
  dataDir: string,
  uriOrF: string | undefined | ((store: EventStore["Type"]) => Effect.Effect<A, E, R>),
  maybeF?: (store: EventStore["Type"]) => Effect.Effect<A, E, R>
) {
  const f = typeof uriOrF === "function" ? uriOrF : maybeF!
  const uri = typeof uriOrF === "string" ? uriOrF : undefined
  const layer =
    uri === undefined
      ? Layer.mapError(readOnlyStoreLayer(dataDir), (e) => e as StoreError | InvalidStoreUri)
      : Either.match(parseStoreUri(uri), {
          onLeft: (e) => Layer.fail(e),
          onRight: (parsed) => Layer.mapError(storeLayer(parsed, { readonly: true }), (e) => e as StoreError | InvalidStoreUri)
        })
  return Effect.flatMap(EventStore, f).pipe(Effect.provide(layer), Effect.scoped)
}
