// The services the tools work with, taken once from the daemon's layers.
import { Effect } from "effect"
import type { Config } from "../../domain/config/config.js"
import { Runner } from "../../runners/runner.js"
import { blobsDir, makeBlobStore, type BlobStore } from "../blobs/blob-store.js"
import { Ledger, type LedgerShape } from "../ledger/ledger.js"
import { SandboxService, type SandboxServiceShape } from "../sandbox/sandbox-service.js"
import { EventStore, type EventStoreShape } from "../store/event-store.js"

export interface ToolDeps {
  readonly service: SandboxServiceShape
  readonly ledger: LedgerShape
  readonly store: EventStoreShape
  readonly runner: Runner
  readonly blobs: BlobStore
  readonly dataDir: string
  readonly config: Config
}

export const toolDeps = (dataDir: string, config: Config) =>
  Effect.gen(function* () {
    const deps: ToolDeps = {
      service: yield* SandboxService,
      ledger: yield* Ledger,
      store: yield* EventStore,
      runner: yield* Runner,
      blobs: makeBlobStore(blobsDir(dataDir)),
      dataDir,
      config
    }
    return deps
  })
