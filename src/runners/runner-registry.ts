// Several runners behind the one Runner port: a new sandbox goes to the runner its spec names
// (its template's), every later operation to the runner that made its handle.
import { Context, Effect, Layer } from "effect"
import { InvalidHandle } from "./errors.js"
import { Runner, type SandboxHandle } from "./runner.js"

export const makeRunnerRegistry = (runners: ReadonlyMap<string, Runner>, defaultKind: string): Runner => {
  const byKind = (kind: string | undefined) => runners.get(kind ?? defaultKind)
  const unknown = (id: string, kind: string) =>
    new InvalidHandle({ id, reason: `no runner named "${kind}" is available (known: ${[...runners.keys()].join(", ")})` })
  const forHandle = <A, E>(handle: SandboxHandle, f: (r: Runner) => Effect.Effect<A, E>) => {
    const runner = byKind(handle.runner)
    return runner ? f(runner) : Effect.fail(unknown(handle.id, handle.runner))
  }
  const fallback = byKind(defaultKind)!
  return {
    kind: "registry",
    kinds: [...runners.keys()],
    capabilities: fallback.capabilities,
    create: (spec) => {
      const runner = byKind(spec.runner)
      return runner ? runner.create(spec) : Effect.fail(unknown(spec.id, spec.runner ?? defaultKind))
    },
    start: (h) => forHandle(h, (r) => r.start(h)),
    exec: (h, req, options) => forHandle(h, (r) => r.exec(h, req, options)),
    pause: (h) => forHandle(h, (r) => r.pause(h)),
    resume: (h) => forHandle(h, (r) => r.resume(h)),
    stop: (h) => forHandle(h, (r) => r.stop(h)),
    destroy: (h) => forHandle(h, (r) => r.destroy(h)),
    snapshot: (h, dir) => forHandle(h, (r) => r.snapshot(h, dir)),
    restore: (h, dir) => forHandle(h, (r) => r.restore(h, dir)),
    status: (h) => forHandle(h, (r) => r.status(h))
  }
}

/** A Runner layer from named runner layers, the first being the default. */
export const registryLayer = (entries: ReadonlyArray<readonly [string, Layer.Layer<Runner, never, never>]>) =>
  Layer.scoped(
    Runner,
    Effect.gen(function* () {
      const runners = new Map<string, Runner>()
      // Built in this layer's scope, so each runner lives as long as the registry.
      for (const [kind, layer] of entries) runners.set(kind, Context.get(yield* Layer.build(layer), Runner))
      return makeRunnerRegistry(runners, entries[0]![0])
    })
  )
