// What the process monitor says about its own coverage: lost bpftrace events and a dead bpftrace
// become MonitorGaps (and it keeps recording after the restart); without bpftrace it polls /proc
// and declares what polling cannot see.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { makeProcessMonitor, pollBlindSpots } from "../../../../src/adapters/monitors/processes/process-monitor.js"
import { eventually } from "../../../runners/bwrap/sandbox-fixture.js"
import { ledgerScope, observations, ofType, sandboxes, startsWith, watch } from "./monitor-fixture.js"

const TIMEOUT = 120_000

describe("process monitor coverage", () => {
  it.scopedLive("reports events bpftrace lost as a MonitorGap with the count", () =>
    ledgerScope(
      Effect.gen(function* () {
        const [sandbox] = yield* sandboxes(1, "lost")
        // One perf page per CPU, and bpftrace stopped while 300 execs with long argv happen: overflow is certain.
        const monitor = makeProcessMonitor({ mechanism: "bpftrace", perfPagesPerCpu: 1 })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const running = yield* watch(monitor, sandbox!)
            const pid = monitor.tracer.pid()!
            process.kill(pid, "SIGSTOP")
            const long = "x".repeat(1500)
            const result = yield* sandbox!.sh(`for i in $(seq 1 300); do /bin/echo ${long} >/dev/null; done`).pipe(
              Effect.ensuring(Effect.sync(() => process.kill(pid, "SIGCONT")))
            )
            expect(result.exitCode).toBe(0)
            yield* running.flush
          })
        )
        const events = yield* observations(sandbox!.handle.id)
        const gaps = ofType(events, "MonitorGap").filter((g) => /bpftrace lost \d+ events/.test(String(g.data["reason"])))
        expect(gaps.length).toBeGreaterThan(0)
        expect(gaps.every((g) => (g.data["lost"] as number) > 0)).toBe(true)
        expect(startsWith(events, ["/bin/echo", "x".repeat(1500)]).length).toBeLessThan(300)
      })
    ), 120_000)

  it.scopedLive("records a gap when bpftrace dies, restarts it and goes on recording", () =>
    ledgerScope(
      Effect.gen(function* () {
        const [sandbox] = yield* sandboxes(1, "death")
        const monitor = makeProcessMonitor({ mechanism: "bpftrace" })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const running = yield* watch(monitor, sandbox!)
            const first = monitor.tracer.pid()!
            process.kill(first, "SIGKILL")
            const restarted = yield* eventually(() => monitor.tracer.pid() !== null && monitor.tracer.pid() !== first, 30_000)
            expect(restarted).toBe(true)
            yield* sandbox!.run(["/bin/echo", "after-restart"])
            yield* running.flush
          })
        )
        const events = yield* observations(sandbox!.handle.id)
        const [gap] = ofType(events, "MonitorGap")
        expect(gap?.data["reason"]).toMatch(/bpftrace exited unexpectedly \(SIGKILL\).*; restarted/)
        expect(gap?.data["lost"]).toBeNull()
        expect(gap?.data["to"]).toEqual(expect.any(String))
        expect(startsWith(events, ["/bin/echo", "after-restart"])).toHaveLength(1)
      })
    ), TIMEOUT)

  it.scopedLive("polls /proc when asked, declaring its blind spots and an open gap", () =>
    ledgerScope(
      Effect.gen(function* () {
        const [sandbox] = yield* sandboxes(1, "poll")
        const monitor = makeProcessMonitor({ mechanism: "proc", pollIntervalMs: 50 })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const running = yield* watch(monitor, sandbox!)
            yield* sandbox!.run(["/bin/sleep", "1"])
            yield* running.flush
          })
        )
        expect(monitor.tracer.pid()).toBeNull()
        const events = yield* observations(sandbox!.handle.id)
        expect(events[0]).toMatchObject({ type: "MonitorStarted", data: { blindSpots: pollBlindSpots(50) } })
        expect(pollBlindSpots(50)).toContain("processes shorter than the polling interval (50 ms)")
        expect(events[1]).toMatchObject({ type: "MonitorGap", data: { lost: null, to: null } })
        const [slept] = startsWith(events, ["/bin/sleep", "1"])
        expect(slept?.data).toMatchObject({ cwd: "/workspace", sandboxId: sandbox!.handle.id })
        // the exit after sleep's start: a poll that caught the pid still running setpriv or env (the
        // launcher's steps before sleep) ended that program when the pid's argv changed
        const exit = events.slice(events.indexOf(slept!)).find((e) => e.type === "ProcessExited" && e.data["pid"] === slept?.data["pid"])
        expect(exit?.data).toMatchObject({ exitCode: null, signal: null })
        expect(exit?.data["durationMs"]).toBeGreaterThan(500)
        expect(events[events.length - 1]!.type).toBe("MonitorStopped")
      })
    ), TIMEOUT)

  it.scopedLive("falls back to polling when bpftrace cannot run, and fails when bpftrace was required", () =>
    ledgerScope(
      Effect.gen(function* () {
        const [sandbox] = yield* sandboxes(1, "fallback")
        const auto = makeProcessMonitor({ bpftrace: "/nonexistent/bpftrace" })
        yield* Effect.scoped(Effect.flatMap(watch(auto, sandbox!), (running) => running.flush))
        const events = yield* observations(sandbox!.handle.id)
        expect(String(events[0]!.data["mechanism"])).toMatch(/^poll \/proc every 50 ms/)
        expect(String(events[1]!.data["reason"])).toMatch(/bpftrace unavailable \(cannot run \/nonexistent\/bpftrace/)
        const strict = makeProcessMonitor({ mechanism: "bpftrace", bpftrace: "/nonexistent/bpftrace" })
        const exit = yield* Effect.exit(Effect.scoped(watch(strict, sandbox!)))
        expect(Exit.isFailure(exit) && String(exit.cause)).toMatch(/MonitorUnavailable|processes monitor unavailable/)
      })
    ), TIMEOUT)
})
