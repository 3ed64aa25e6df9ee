// The process monitor on real bwrap sandboxes, real bpftrace and a real SQLite ledger: every exec
// recorded and attributed to exactly its sandbox, parents, exit codes and durations, and the monitor's
// own coverage (started, stopped, gaps when bpftrace loses events or dies).
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { makeProcessMonitor, BPFTRACE_MECHANISM } from "../../../../src/adapters/monitors/processes/process-monitor.js"
import { out } from "../../../runners/bwrap/sandbox-fixture.js"
import { argvOf, ledgerScope, observations, ofType, sandboxes, startsWith, watch } from "./monitor-fixture.js"

const TIMEOUT = 120_000

/** Runs `count` short host processes with `marker` in their argv, `parallel` at a time. */
const hostProcesses = (marker: string, count: number, parallel = 4) =>
  Effect.promise(async () => {
    const one = () => new Promise<void>((resolve) => spawn("/bin/echo", [marker], { stdio: "ignore" }).on("exit", () => resolve()))
    for (let i = 0; i < count; i += parallel) await Promise.all(Array.from({ length: Math.min(parallel, count - i) }, one))
  })

describe("process monitor (bpftrace)", () => {
  it.scopedLive("records each of 2,000 short-lived /bin/true execs with its argv, in its sandbox", () =>
    ledgerScope(
      Effect.gen(function* () {
        const [sandbox] = yield* sandboxes(1, "burst")
        const monitor = makeProcessMonitor({ mechanism: "bpftrace" })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const running = yield* watch(monitor, sandbox!)
            const result = yield* sandbox!.sh("i=0; while [ $i -lt 2000 ]; do /bin/true; i=$((i+1)); done; echo done")
            expect(out(result)).toBe("done\n")
            yield* running.flush
          })
        )
        const events = yield* observations(sandbox!.handle.id)
        const started = ofType(events, "ProcessStarted")
        const trues = startsWith(events, ["/bin/true"])
        expect(trues).toHaveLength(2000)
        expect(new Set(trues.map((e) => e.data["pid"])).size).toBeGreaterThan(1)
        expect(started.every((e) => e.data["sandboxId"] === sandbox!.handle.id)).toBe(true)
        const truePids = new Set(trues.map((e) => e.data["pid"]))
        const trueExits = ofType(events, "ProcessExited").filter((e) => truePids.has(e.data["pid"]))
        expect(trueExits.length).toBeGreaterThanOrEqual(truePids.size)
        expect(trueExits.every((e) => e.data["exitCode"] === 0 && e.data["signal"] === null)).toBe(true)
        expect(events[0]!.type).toBe("MonitorStarted")
        expect(events[0]!.data["mechanism"]).toBe(BPFTRACE_MECHANISM)
        const last = events[events.length - 1]!
        expect(last.type).toBe("MonitorStopped")
        expect(last.data["observed"]).toBe(events.length - 2 - ofType(events, "MonitorGap").length)
        expect(ofType(events, "MonitorGap")).toEqual([])
      })
    ), TIMEOUT)

  it.scopedLive("gives each level of a 5-deep process tree its parent's pid as ppid, with cwd, uid and nsPid", () =>
    ledgerScope(
      Effect.gen(function* () {
        const [sandbox] = yield* sandboxes(1, "tree")
        const script = path.join(sandbox!.spec.workspaceDir, "level.sh")
        fs.writeFileSync(script, 'if [ "$1" -lt 5 ]; then /bin/sh /workspace/level.sh $(($1 + 1)); else /bin/sleep 3; /bin/echo tree-leaf; fi\nstatus=$?\n', { mode: 0o755 })
        const monitor = makeProcessMonitor({ mechanism: "bpftrace" })
        let uid = ""
        yield* Effect.scoped(
          Effect.gen(function* () {
            const running = yield* watch(monitor, sandbox!)
            uid = out(yield* sandbox!.run(["id", "-u"])).trim()
            expect(out(yield* sandbox!.run(["/bin/sh", "/workspace/level.sh", "1"]))).toBe("tree-leaf\n")
            yield* running.flush
          })
        )
        const events = yield* observations(sandbox!.handle.id)
        const levels = [1, 2, 3, 4, 5].map((n) => startsWith(events, ["/bin/sh", "/workspace/level.sh", String(n)]))
        levels.forEach((found) => expect(found).toHaveLength(1))
        const [leaf] = startsWith(events, ["/bin/echo", "tree-leaf"])
        const chain = [...levels.map((found) => found[0]!), leaf!]
        for (let i = 1; i < chain.length; i++) expect(chain[i]!.data["ppid"]).toBe(chain[i - 1]!.data["pid"])
        // Every level lives 3 s (the leaf sleeps), so its cwd is still readable when its exec is read.
        for (const level of chain.slice(0, 5)) {
          expect(level.data["cwd"]).toBe("/workspace")
          expect(String(level.data["uid"])).toBe(uid)
          expect(level.data["nsPid"]).toEqual(expect.any(Number))
          expect(level.data["nsPid"]).not.toBe(level.data["pid"])
          expect(level.data["cgroupId"]).toMatch(/^\d+$/)
        }
      })
    ), TIMEOUT)

  it.scopedLive("attributes nothing from the host or another sandbox, with one bpftrace for both", () =>
    ledgerScope(
      Effect.gen(function* () {
        const [a, b] = yield* sandboxes(2, "pair")
        const monitor = makeProcessMonitor({ mechanism: "bpftrace" })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const watchA = yield* watch(monitor, a!)
            const tracerPid = monitor.tracer.pid()
            const watchB = yield* watch(monitor, b!)
            expect(monitor.tracer.pid()).toBe(tracerPid)
            const loop = (marker: string) => `for i in $(seq 1 200); do /bin/echo ${marker}; done >/dev/null`
            yield* Effect.all([a!.sh(loop("marker-a")), b!.sh(loop("marker-b")), hostProcesses("marker-host", 200)], { concurrency: "unbounded" })
            yield* watchA.flush
            yield* watchB.flush
          })
        )
        expect(monitor.tracer.pid()).toBeNull()
        const seenIn = (events: ReadonlyArray<{ type: string; data: Record<string, unknown> }>) =>
          ofType(events, "ProcessStarted").flatMap(argvOf).join("\n")
        const inA = yield* observations(a!.handle.id)
        const inB = yield* observations(b!.handle.id)
        expect(startsWith(inA, ["/bin/echo", "marker-a"])).toHaveLength(200)
        expect(startsWith(inB, ["/bin/echo", "marker-b"])).toHaveLength(200)
        expect(seenIn(inA)).not.toMatch(/marker-b|marker-host/)
        expect(seenIn(inB)).not.toMatch(/marker-a|marker-host/)
        const pidsA = new Set(ofType(inA, "ProcessStarted").map((e) => e.data["pid"]))
        expect(ofType(inB, "ProcessStarted").some((e) => pidsA.has(e.data["pid"]))).toBe(false)
      })
    ), TIMEOUT)

  it.scopedLive("records exit codes, signals and durations", () =>
    ledgerScope(
      Effect.gen(function* () {
        const [sandbox] = yield* sandboxes(1, "exit")
        const monitor = makeProcessMonitor({ mechanism: "bpftrace" })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const running = yield* watch(monitor, sandbox!)
            expect((yield* sandbox!.run(["/bin/sh", "-c", "exit 7"])).exitCode).toBe(7)
            yield* sandbox!.run(["/bin/sh", "-c", "kill -9 $$"])
            yield* sandbox!.run(["/bin/sleep", "1"])
            yield* running.flush
          })
        )
        const events = yield* observations(sandbox!.handle.id)
        const exitOf = (argv: ReadonlyArray<string>) => {
          const [started] = startsWith(events, argv)
          return ofType(events, "ProcessExited").find((e) => e.data["pid"] === started?.data["pid"])?.data
        }
        expect(exitOf(["/bin/sh", "-c", "exit 7"])).toMatchObject({ exitCode: 7, signal: null })
        expect(exitOf(["/bin/sh", "-c", "kill -9 $$"])).toMatchObject({ exitCode: null, signal: 9 })
        const slept = exitOf(["/bin/sleep", "1"])
        expect(slept).toMatchObject({ exitCode: 0, signal: null })
        expect(slept!["durationMs"]).toBeGreaterThanOrEqual(990)
        expect(slept!["durationMs"]).toBeLessThan(30_000)
      })
    ), TIMEOUT)
})
