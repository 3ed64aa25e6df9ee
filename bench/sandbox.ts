// Sandbox benchmark (issues 4 and 9): launch-to-ready and exec round trip through the sandbox
// service (domain decision, ledger append, runner) — p50/p99 over N runs, per runner.
// Usage: node --import tsx bench/sandbox.ts [--runs 100]
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { LedgerLive } from "../src/adapters/ledger/ledger.js"
import { SandboxService, SandboxServiceLive } from "../src/adapters/sandbox/sandbox-service.js"
import { SqliteStoreLive } from "../src/adapters/store/sqlite/sqlite-store.js"
import { sensitiveFields } from "../src/domain/events/catalogue.js"
import { defaultConfig } from "../src/domain/config/config.js"
import type { Template } from "../src/domain/sandbox/template.js"
import { layer as bwrapLayer } from "../src/runners/bwrap/bwrap-runner.js"
import { layer as containerdLayer } from "../src/runners/containerd/containerd-runner.js"
import { buildImage, templateRecipe } from "../src/runners/images/image-store.js"
import type { Runner } from "../src/runners/runner.js"

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}
const RUNS = arg("runs", 100)
const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return +(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0).toFixed(2)
}
const operator = { kind: "operator" as const, id: "bench" }

const template = (runner: Template["runner"]): Template => ({
  name: "bench",
  description: "benchmark sandbox",
  runner,
  resources: { cpu_cores: 1, memory_mb: 256, pids: 64 },
  rootfs: runner === "containerd" ? { kind: "image", packages: [] } : { kind: "host" },
  network: { mode: "none" },
  default_policy: "restricted",
  env: {}
}) as Template

const measure = (name: Template["runner"], runnerLayer: Layer.Layer<Runner, unknown>) =>
  Effect.gen(function* () {
    const dataDir = mkdtempSync(join(tmpdir(), `hv-bench-${name}-`))
    // Images are built once (debootstrap, ~30-60 s) into a cache that outlives the run.
    if (name === "containerd") {
      const cache = "/var/tmp/hydravisor-bench"
      mkdirSync(join(cache, "images"), { recursive: true })
      symlinkSync(join(cache, "images"), join(dataDir, "images"))
      const recipe = templateRecipe([])
      if (recipe._tag === "Left") return yield* Effect.fail(recipe.left)
      yield* buildImage(dataDir, recipe.right)
    }
    const store = SqliteStoreLive({ file: join(dataDir, "ledger.db") })
    const base = Layer.mergeAll(store, LedgerLive({ dataDir, sensitiveFields }).pipe(Layer.provide(store)), runnerLayer)
    const layer = SandboxServiceLive({ dataDir, security: defaultConfig.security }).pipe(Layer.provideMerge(base))
    const result = yield* Effect.gen(function* () {
      const service = yield* SandboxService
      const launches: Array<number> = []
      const execs: Array<number> = []
      const runnerExec: Array<number> = []
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now()
        const view = yield* service.launch({ template: template(name), name: `b${i}`, actor: operator })
        launches.push(performance.now() - t)
        if (i === 0) {
          for (let j = 0; j < RUNS; j++) {
            const e = performance.now()
            const out = yield* service.exec(view.id, { argv: ["true"] }, operator)
            execs.push(performance.now() - e)
            runnerExec.push(out.durationMs)
          }
        }
        yield* service.stop(view.id, "bench", operator)
        yield* service.destroy(view.id, operator)
      }
      return {
        runner: name,
        runs: RUNS,
        launchToReadyMs: { p50: quantile(launches, 0.5), p99: quantile(launches, 0.99) },
        execRoundTripMs: { p50: quantile(execs, 0.5), p99: quantile(execs, 0.99) },
        runnerOwnExecMs: { p50: quantile(runnerExec, 0.5), p99: quantile(runnerExec, 0.99) }
      }
    }).pipe(Effect.provide(layer), Effect.scoped)
    rmSync(dataDir, { recursive: true, force: true })
    return result
  })

const runners: Array<[Template["runner"], Layer.Layer<Runner, unknown>]> = [
  ["bwrap", bwrapLayer()],
  ["containerd", containerdLayer()]
]

Effect.runPromise(Effect.forEach(runners, ([name, layer]) => measure(name, layer))).then(
  (results) =>
    console.log(
      JSON.stringify({ bench: "sandbox", results, targets: { bwrap: { launchToReadyP50Ms: 50, execRoundTripP50Ms: 15 }, containerd: { launchToReadyP50Ms: 300, execRoundTripP50Ms: 30 } } }, null, 2)
    ),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
