// A data dir with a SQLite store and a ledger writer in it, for tests that need a real ledger.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer, type Scope } from "effect"
import { Ledger, LedgerLive, type LedgerOptions } from "../../src/adapters/ledger/ledger.js"
import { EventStore } from "../../src/adapters/store/event-store.js"
import { SqliteStoreLive } from "../../src/adapters/store/sqlite/sqlite-store.js"

export const tempDir = (prefix = "hv-test-") => mkdtempSync(join(tmpdir(), prefix))

export const removeDir = (dir: string) => rmSync(dir, { recursive: true, force: true })

export const ledgerFile = (dataDir: string) => join(dataDir, "ledger.db")

export const ledgerLayer = (dataDir: string, options: Partial<LedgerOptions> = {}) => {
  const store = SqliteStoreLive({ file: ledgerFile(dataDir) })
  return Layer.merge(store, LedgerLive({ dataDir, ...options }).pipe(Layer.provide(store)))
}

export const readOnlyStore = (dataDir: string) => SqliteStoreLive({ file: ledgerFile(dataDir), readonly: true })

/** Appends `count` events to a fresh ledger in `dataDir`, `perAppend` at a time. */
export const writeEvents = (dataDir: string, count: number, options: Partial<LedgerOptions> = {}, perAppend = 1) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    for (let i = 0; i < count; i += perAppend) {
      const n = Math.min(perAppend, count - i)
      yield* ledger.append(
        `sandbox-s${i % 7}`,
        Array.from({ length: n }, (_, j) => ({ type: "CommandExecuted", data: { argv: ["echo", String(i + j)], exitCode: 0 }, sensitive: ["argv"] })),
        { actor: { kind: "operator", id: "test" } }
      )
    }
  }).pipe(Effect.provide(ledgerLayer(dataDir, options)), Effect.scoped)

export type { EventStore, Scope }
