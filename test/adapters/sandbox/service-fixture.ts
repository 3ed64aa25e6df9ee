// A sandbox service as the daemon wires it, on a real SQLite ledger in a temp data dir and the real
// bwrap runner (on the test cgroup subtree), plus readers for what ended up in the ledger.
import { Chunk, Effect, Layer, Stream } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import { SandboxService, SandboxServiceLive } from "../../../src/adapters/sandbox/sandbox-service.js"
import { EventStore } from "../../../src/adapters/store/event-store.js"
import { sensitiveFields } from "../../../src/domain/events/catalogue.js"
import type { LedgerRecord } from "../../../src/domain/ledger/record.js"
import { unseal } from "../../../src/domain/ledger/sealed.js"
import type { Template } from "../../../src/domain/sandbox/template.js"
import { fromRunnerHandle } from "../../../src/adapters/sandbox/mapping.js"
import { layer as bwrapLayer } from "../../../src/runners/bwrap/bwrap-runner.js"
import { Runner } from "../../../src/runners/runner.js"
import { ledgerLayer, readOnlyStore, removeDir, tempDir } from "../../support/ledger-fixture.js"
import { TEST_CGROUP_PARENT } from "../../runners/bwrap/sandbox-fixture.js"

export const security = { default_policy: "restricted", allow_internet: false, max_cpu_cores: 4, max_memory_gb: 8 }

export const operator = { kind: "operator", id: "alice" } as const
export const agent = { kind: "agent", id: "agent-7" } as const

export const tinyTemplate: Template = {
  name: "tiny",
  description: "host /usr, no network",
  runner: "bwrap",
  rootfs: { kind: "host" },
  resources: { cpu_cores: 1, memory_mb: 128, pids: 64 },
  network: { mode: "none" },
  default_policy: "restricted"
}

/** The service, its ledger and store, and a runner; everything in the sandboxes is killed with the scope. */
export const serviceLayer = (dataDir: string) => {
  const ledger = ledgerLayer(dataDir, { sensitiveFields })
  const runner = bwrapLayer({ cgroupParent: TEST_CGROUP_PARENT })
  return SandboxServiceLive({ dataDir, security }).pipe(Layer.provideMerge(Layer.merge(ledger, runner)))
}

/** Removes, behind the service's back and unrecorded, what is left of the sandboxes on the host. */
const removeLeftovers = Effect.gen(function* () {
  const runner = yield* Runner
  for (const view of yield* (yield* SandboxService).list()) {
    const handle = fromRunnerHandle(view.handle)
    if (handle !== null) yield* runner.destroy(handle).pipe(Effect.ignore)
  }
})

/**
 * Runs `program` against a daemon on `dataDir`, which it then shuts down (as a process exit would:
 * nothing recorded). `leaveSandboxes` keeps their cgroups and directories for a next daemon to find.
 */
export const withDaemon = <A, E>(
  dataDir: string,
  program: Effect.Effect<A, E, SandboxService | EventStore | Runner | Scope.Scope>,
  options: { readonly leaveSandboxes?: boolean } = {}
) =>
  program.pipe(
    Effect.ensuring(options.leaveSandboxes === true ? Effect.void : removeLeftovers),
    Effect.provide(serviceLayer(dataDir)),
    Effect.scoped
  )

/** A temp data dir for the test, removed at the end. */
export const dataDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => tempDir("hv-sandbox-")),
  (dir) => Effect.sync(() => removeDir(dir))
)

export const allRecords = (dir: string): Effect.Effect<ReadonlyArray<LedgerRecord>, unknown> =>
  Effect.gen(function* () {
    const store = yield* EventStore
    return Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAll())).map((s) => s.record)
  }).pipe(Effect.provide(readOnlyStore(dir)), Effect.scoped)

export const field = (record: LedgerRecord, name: string): unknown => unseal(record.data[name])

export const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

export const exists = (file: string) => fs.existsSync(file)
