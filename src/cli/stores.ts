// Opening the ledger for a verb: read-only for auditing verbs, as the writer for verbs that append.
import { existsSync } from "node:fs"
import { Effect, Layer } from "effect"
import { LedgerLive, type LedgerOptions } from "../adapters/ledger/ledger.js"
import { EventStore, StoreUnavailable } from "../adapters/store/event-store.js"
import { SqliteStoreLive } from "../adapters/store/sqlite/sqlite-store.js"
import { cliConfig, ledgerOptionsOf } from "./config.js"
import { ledgerPath } from "./data-dir.js"

export const readOnlyStoreLayer = (dataDir: string) => {
  const file = ledgerPath(dataDir)
  return existsSync(dataDir)
    ? SqliteStoreLive({ file, readonly: true })
    : Layer.fail(new StoreUnavailable({ store: dataDir, problem: "no such data directory (pass --data-dir or set HYDRAVISOR_DATA_DIR)" }))
}

/** The store and a ledger writer, configured from the config file and environment, then `options`. */
export const writerLayer = (dataDir: string, options: Partial<LedgerOptions> = {}) =>
  Layer.unwrapEffect(
    cliConfig().pipe(
      Effect.map(({ config }) => {
        const store = SqliteStoreLive({ file: ledgerPath(dataDir) })
        return Layer.merge(store, LedgerLive({ dataDir, ...ledgerOptionsOf(config), ...options }).pipe(Layer.provide(store)))
      })
    )
  )

export const withReadOnlyStore = <A, E, R>(dataDir: string, f: (store: EventStore["Type"]) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(EventStore, f).pipe(Effect.provide(readOnlyStoreLayer(dataDir)), Effect.scoped)
