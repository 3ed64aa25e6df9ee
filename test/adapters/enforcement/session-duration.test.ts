// A sandbox whose session is over is stopped at the right time, and the stop recorded: the policy
// engine's timer runs on the Effect Clock, so the TestClock drives it. The runner (real bwrap) runs on
// the live clock; no monitors, whose own timers would wait for the TestClock too.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock, TestServices } from "effect"
import { Enforcer } from "../../../src/adapters/enforcement/enforcer.js"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import { layer as bwrapLayer } from "../../../src/runners/bwrap/bwrap-runner.js"
import { Runner, type Runner as RunnerShape } from "../../../src/runners/runner.js"
import { TEST_CGROUP_PARENT } from "../../runners/bwrap/sandbox-fixture.js"
import { agent, dataDir, operator, tinyTemplate } from "../sandbox/service-fixture.js"
import { records, withEnforcingDaemon } from "./enforcement-fixture.js"

const live = <A, E>(effect: Effect.Effect<A, E>) => TestServices.provideLive(effect)

const liveRunner = Layer.effect(
  Runner,
  Effect.map(Runner, (r): RunnerShape => ({
    ...r,
    create: (spec) => live(r.create(spec)),
    start: (h) => live(r.start(h)),
    exec: (h, req) => live(r.exec(h, req)),
    pause: (h) => live(r.pause(h)),
    resume: (h) => live(r.resume(h)),
    stop: (h) => live(r.stop(h)),
    destroy: (h) => live(r.destroy(h)),
    snapshot: (h, d) => live(r.snapshot(h, d)),
    restore: (h, d) => live(r.restore(h, d)),
    status: (h) => live(r.status(h))
  }))
).pipe(Layer.provide(bwrapLayer({ cgroupParent: TEST_CGROUP_PARENT })))

const HOUR = 3_600_000

describe("session duration", () => {
  it.scoped("the sandbox runs until its session is over, then the engine stops it and records why", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const enforcer = yield* Enforcer
        // `restricted` caps sessions at 8 h; the template sets 2 h, the smaller wins.
        const view = yield* sandboxes.launch({ template: { ...tinyTemplate, session_duration_hours: 2 }, name: "timed", actor: operator })
        expect(Date.parse(view.expiresAt!) - Date.parse(view.createdAt!)).toBeGreaterThanOrEqual(2 * HOUR - 1)
        yield* TestClock.adjust("119 minutes")
        yield* enforcer.settled
        expect((yield* sandboxes.inspect("timed")).state).toBe("running")
        expect((yield* sandboxes.exec("timed", { argv: ["true"] }, agent)).exitCode).toBe(0)
        yield* TestClock.adjust("1 minute")
        yield* enforcer.settled
        expect((yield* sandboxes.inspect("timed")).state).toBe("stopped")
        const all = yield* records
        const violation = all.find((r) => r.type === "PolicyViolated")
        expect(violation?.data).toMatchObject({ sandboxId: view.id, kind: "resource-limit", rule: "resources.limits.session_duration_hours", action: "stop" })
        const stopped = all.find((r) => r.stream === `sandbox-${view.id}` && r.type === "SandboxStopped")
        expect(stopped?.at.slice(0, 19)).toBe(new Date(2 * HOUR).toISOString().slice(0, 19))
        expect(all.find((r) => r.type === "PolicyActionTaken")?.data).toMatchObject({ violation: violation?.id, action: "stop", outcome: "succeeded" })
        // Past the end, the decider refuses commands too.
        expect(yield* Effect.flip(sandboxes.exec("timed", { argv: ["true"] }, agent))).toMatchObject({ _tag: "SandboxNotRunning" })
      }), liveRunner, [])
    }), { timeout: 60_000 })
})
