// A daemon as `serve` wires it — monitors, the policy engine, the sandbox service — on a temp data dir,
// the real bwrap runner on the test cgroup subtree, and real bpftrace/inotify/egress monitors.
import { Chunk, Effect, Layer, Schema, Stream } from "effect"
import type { Scope } from "effect"
import { Enforcer, EnforcerLive } from "../../../src/adapters/enforcement/enforcer.js"
import { Ledger } from "../../../src/adapters/ledger/ledger.js"
import { defaultMonitors } from "../../../src/adapters/monitors/default-monitors.js"
import { monitorHooksLayer } from "../../../src/adapters/monitors/monitor-manager.js"
import { applyPolicy } from "../../../src/adapters/policy/policy-store.js"
import { SandboxService, SandboxServiceLive } from "../../../src/adapters/sandbox/sandbox-service.js"
import { EventStore } from "../../../src/adapters/store/event-store.js"
import { sensitiveFields } from "../../../src/domain/events/catalogue.js"
import type { LedgerRecord } from "../../../src/domain/ledger/record.js"
import { PolicyDocument } from "../../../src/domain/policy/policy-document.js"
import { layer as bwrapLayer } from "../../../src/runners/bwrap/bwrap-runner.js"
import { Runner } from "../../../src/runners/runner.js"
import { fromRunnerHandle } from "../../../src/adapters/sandbox/mapping.js"
import { ledgerLayer } from "../../support/ledger-fixture.js"
import { TEST_CGROUP_PARENT } from "../../runners/bwrap/sandbox-fixture.js"
import { operator, security } from "../sandbox/service-fixture.js"

export const enforcingDaemon = (dataDir: string, runner: Layer.Layer<Runner, unknown> = bwrapLayer({ cgroupParent: TEST_CGROUP_PARENT }), monitors = defaultMonitors(dataDir)) => {
  const base = Layer.merge(ledgerLayer(dataDir, { sensitiveFields }), runner)
  const enforcer = EnforcerLive().pipe(Layer.provide(base))
  const hooks = monitorHooksLayer({ dataDir, monitors }).pipe(Layer.provide(Layer.merge(base, enforcer)))
  const service = SandboxServiceLive({ dataDir, security }).pipe(Layer.provide(hooks), Layer.provideMerge(Layer.merge(base, enforcer)))
  return service
}

/** Runs `program` against the daemon, the engine attached; every sandbox left is destroyed after. */
export const withEnforcingDaemon = <A, E>(
  dataDir: string,
  program: Effect.Effect<A, E, SandboxService | EventStore | Ledger | Runner | Enforcer | Scope.Scope>,
  runner?: Layer.Layer<Runner, unknown>,
  monitors?: ReturnType<typeof defaultMonitors>
) =>
  Effect.gen(function* () {
    const enforcer = yield* Enforcer
    yield* enforcer.attach(yield* SandboxService)
    return yield* program.pipe(
      Effect.ensuring(
        Effect.gen(function* () {
          const r = yield* Runner
          for (const view of yield* (yield* SandboxService).list()) {
            const handle = fromRunnerHandle(view.handle)
            if (handle !== null) yield* r.destroy(handle).pipe(Effect.ignore)
          }
        })
      )
    )
  }).pipe(Effect.provide(enforcingDaemon(dataDir, runner, monitors)), Effect.scoped)

export const apply = (document: unknown) =>
  Effect.gen(function* () {
    const doc = Schema.decodeUnknownSync(PolicyDocument)(document)
    return yield* applyPolicy(yield* Ledger, yield* EventStore, doc, "test", operator)
  })

export const records = Effect.gen(function* () {
  const store = yield* EventStore
  return Chunk.toReadonlyArray(yield* Stream.runCollect(store.readAll())).map((s) => s.record)
})

/** Polls the ledger (real time) until `until` holds for its records; fails after `timeoutMs`. */
export const waitFor = (until: (records: ReadonlyArray<LedgerRecord>) => boolean, what: string, timeoutMs = 20_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const all = yield* records
      if (until(all)) return all
      if (Date.now() > deadline) return yield* Effect.dieMessage(`timed out waiting for ${what}; last types: ${all.slice(-15).map((r) => r.type).join(", ")}`)
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 200)))
    }
  })
