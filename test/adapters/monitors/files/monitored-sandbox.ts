// A real bwrap sandbox with the file monitor on its workspace, appending to a real SQLite ledger. The
// monitor runs in its own scope inside the test, so that MonitorStopped is in the ledger (and every
// payload decoded with the catalogue) by the time the test's assertions run.
import { Chunk, Effect, Either, Stream } from "effect"
import type { Scope } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { blobsDir, makeBlobStore, type BlobStore } from "../../../../src/adapters/blobs/blob-store.js"
import { Ledger } from "../../../../src/adapters/ledger/ledger.js"
import { ledgerSink } from "../../../../src/adapters/monitors/ledger-sink.js"
import { makeFileMonitor, type FileMonitorOptions, type FileMonitorStats, type RunningFileMonitor } from "../../../../src/adapters/monitors/files/file-monitor.js"
import type { ObservationSink } from "../../../../src/adapters/monitors/monitor.js"
import { EventStore } from "../../../../src/adapters/store/event-store.js"
import { decodeEventData } from "../../../../src/domain/events/catalogue.js"
import { observationStream } from "../../../../src/domain/monitors/monitor-events.js"
import { dataDir, launchSandbox, testRunner, type TestSandbox } from "../../../runners/bwrap/sandbox-fixture.js"
import { ledgerLayer } from "../../../support/ledger-fixture.js"
import { monitorTargetOf } from "../monitor-target.js"

export interface Observation {
  readonly type: string
  readonly data: Record<string, unknown> & {
    readonly path?: string
    readonly change?: string
    readonly previousPath?: string | null
    readonly sha256?: string | null
    readonly mode?: number | null
    readonly writes?: number
    readonly diff?: { readonly sha256: string; readonly bytes: number } | null
    readonly reason?: string
  }
}

export interface During {
  readonly sandbox: TestSandbox
  readonly workspace: string
  readonly monitor: RunningFileMonitor
  readonly blobs: BlobStore
}

export interface Monitored<A> {
  readonly result: A
  readonly workspace: string
  readonly blobs: BlobStore
  readonly stats: FileMonitorStats
  /** Every event of the observations stream, each payload decoded with the event catalogue. */
  readonly events: ReadonlyArray<Observation>
}

/** Runs `during` with a monitored sandbox, stops the monitor, and returns what the ledger holds. */
export const monitoredSandbox = <A, E>(
  label: string,
  options: Omit<FileMonitorOptions, "blobs">,
  during: (context: During) => Effect.Effect<A, E, Scope.Scope>,
  wrapSink: (sink: ObservationSink) => ObservationSink = (sink) => sink
): Effect.Effect<Monitored<A>, unknown, Scope.Scope> =>
  Effect.gen(function* () {
    const dir = yield* dataDir
    const sandbox = yield* launchSandbox(yield* testRunner, dir, label)
    const workspace = sandbox.spec.workspaceDir
    const blobs = makeBlobStore(blobsDir(dir))
    return yield* Effect.gen(function* () {
      const ledger = yield* Ledger
      const store = yield* EventStore
      const target = monitorTargetOf(sandbox)
      const sink = wrapSink(ledgerSink(ledger, sandbox.spec.id, "files"))
      const { result, stats } = yield* Effect.scoped(
        Effect.gen(function* () {
          const monitor = yield* makeFileMonitor({ blobs, ...options }).start(target, sink)
          const result = yield* during({ sandbox, workspace, monitor, blobs })
          return { result, stats: yield* monitor.stats }
        })
      )
      const records = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readStream(observationStream(sandbox.spec.id))))
      const events = records.map(({ record }) => {
        const decoded = decodeEventData(record.type, record.data)
        if (Either.isLeft(decoded)) throw new Error(`${record.type} does not decode: ${decoded.left.message}`)
        return { type: record.type, data: record.data as Observation["data"] }
      })
      return { result, workspace, blobs, stats, events }
    }).pipe(Effect.provide(ledgerLayer(dir)))
  })

export const sha256File = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex")

/** The last FileChanged per path. */
export const lastChanges = (events: ReadonlyArray<Observation>): Map<string, Observation["data"]> => {
  const last = new Map<string, Observation["data"]>()
  for (const e of events) if (e.type === "FileChanged") last.set(e.data.path!, e.data)
  return last
}

/** Regular files under `dir`, relative, '/'-separated. */
export const filesUnder = (dir: string, rel = ""): Array<string> =>
  fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((d) => {
    const child = rel === "" ? d.name : `${rel}/${d.name}`
    return d.isDirectory() ? filesUnder(dir, child) : d.isFile() ? [child] : []
  })

/** Asserts nothing: returns the paths whose last recorded hash is not the file's hash on disk. */
export const wrongHashes = (workspace: string, events: ReadonlyArray<Observation>): Array<string> => {
  const last = lastChanges(events)
  return filesUnder(workspace).filter((file) => last.get(file)?.sha256 !== sha256File(path.join(workspace, file)))
}
