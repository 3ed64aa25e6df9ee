// The CPU monitor: cpu.stat and saved-reading parsing (fast-check: any text gives a value or null,
// never a throw), and against a real bwrap sandbox: the CPU time of a command's work is recorded as
// CpuUsed windows that add up to what the sandbox's cgroup counted, the monitor's start and stop are
// recorded, and a monitor started again counts what the sandbox used while none watched it.
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { Effect, Layer, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { decodeSavedReading, makeCpuMonitor, usageMicros } from "../../../../src/adapters/monitors/cpu/cpu-monitor.js"
import { Ledger } from "../../../../src/adapters/ledger/ledger.js"
import { ledgerSink } from "../../../../src/adapters/monitors/ledger-sink.js"
import { EventStore } from "../../../../src/adapters/store/event-store.js"
import { observationStream } from "../../../../src/domain/monitors/monitor-events.js"
import { launchSandbox, testRunner } from "../../../runners/bwrap/sandbox-fixture.js"
import { ledgerLayer } from "../../../support/ledger-fixture.js"
import { monitorTargetOf } from "../monitor-target.js"
import { fromRunnerHandle } from "../../../../src/adapters/sandbox/mapping.js"
import { SandboxService } from "../../../../src/adapters/sandbox/sandbox-service.js"
import { agent, dataDir, operator, tinyTemplate } from "../../sandbox/service-fixture.js"
import { records, withEnforcingDaemon } from "../../enforcement/enforcement-fixture.js"

describe("usageMicros", () => {
  it("reads usage_usec from cpu.stat and nothing else", () => {
    expect(usageMicros("usage_usec 1290936346\nuser_usec 1021614329\nsystem_usec 269322016\n")).toBe(1290936346)
    expect(usageMicros("user_usec 5\nsystem_usec 6\n")).toBeNull()
    expect(usageMicros("usage_usec -3\n")).toBeNull()
    expect(usageMicros("usage_usec 12x\n")).toBeNull()
    expect(usageMicros("")).toBeNull()
  })

  it("gives a non-negative integer or null for any text, and finds the count in any cpu.stat", () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const n = usageMicros(text)
        expect(n === null || (Number.isSafeInteger(n) && n >= 0)).toBe(true)
      })
    )
    fc.assert(
      fc.property(fc.nat(), fc.array(fc.tuple(fc.constantFrom("user_usec", "system_usec", "nr_periods", "nice_usec"), fc.nat())), (usage, others) => {
        const lines = [...others.map(([k, v]) => `${k} ${v}`), `usage_usec ${usage}`].reverse()
        expect(usageMicros(lines.join("\n") + "\n")).toBe(usage)
      })
    )
  })
})

describe("CPU monitor (bwrap sandbox)", () => {
  it.scopedLive("records the sandbox's CPU time in CpuUsed windows that add up to its cgroup's count, between MonitorStarted and MonitorStopped", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const view = yield* sandboxes.launch({ template: tinyTemplate, name: "busy", actor: operator })
        // the same counter the monitor reads (it took its first reading while the sandbox started)
        const cpuStat = path.join(fromRunnerHandle(view.handle)!.cgroup, "cpu.stat")
        const usage = () => usageMicros(fs.readFileSync(cpuStat, "utf8"))! / 1e6
        const before = usage()
        // a fixed amount of work, so that the CPU it takes does not hang on how busy the host is
        yield* sandboxes.exec("busy", { argv: ["sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"] }, agent)
        yield* sandboxes.stop("busy", "done", operator)
        const spent = usage() - before
        const all = (yield* records).filter((r) => r.stream === `observations-${view.id}`)
        const used = all.filter((r) => r.type === "CpuUsed")
        const total = used.reduce((s, r) => s + (r.data["seconds"] as number), 0)
        expect(spent).toBeGreaterThan(0.05)
        expect(Math.abs(total - spent)).toBeLessThan(0.05)
        for (const r of used) expect(String(r.data["from"]) < String(r.data["to"])).toBe(true)
        const coverage = all.filter((r) => (r.type === "MonitorStarted" || r.type === "MonitorStopped") && r.data["monitor"] === "cpu").map((r) => r.type)
        expect(coverage).toEqual(["MonitorStarted", "MonitorStopped"])
      }), undefined, [makeCpuMonitor({ intervalMs: 200 })])
    }), { timeout: 60_000 })
})

describe("decodeSavedReading", () => {
  it("takes the monitor's own file and refuses anything else", () => {
    expect(decodeSavedReading(JSON.stringify({ cgroup: "/sys/fs/cgroup/x", usageUsec: 12, at: "2026-11-24T10:00:00.000Z" }))).toEqual({ cgroup: "/sys/fs/cgroup/x", usageUsec: 12, at: "2026-11-24T10:00:00.000Z" })
    expect(decodeSavedReading(JSON.stringify({ cgroup: "/x", usageUsec: -1, at: "2026-11-24T10:00:00.000Z" }))).toBeNull()
    expect(decodeSavedReading(JSON.stringify({ cgroup: "/x", usageUsec: 1, at: "yesterday-ish" }))).toBeNull()
    expect(decodeSavedReading('{"cgroup": "/x", "usageUsec": 1, "at": "2026-11-24T10:00:00.000Z"')).toBeNull()
  })

  it("gives a reading or null for any text, and reads back any reading it wrote", () => {
    fc.assert(fc.property(fc.string(), (text) => {
      const reading = decodeSavedReading(text)
      expect(reading === null || (Number.isSafeInteger(reading.usageUsec) && reading.usageUsec >= 0)).toBe(true)
    }))
    fc.assert(fc.property(fc.string(), fc.nat(), fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }), (cgroup, usageUsec, date) => {
      const reading = { cgroup, usageUsec, at: date.toISOString() }
      expect(decodeSavedReading(JSON.stringify(reading))).toEqual(reading)
    }))
  })
})

describe("CPU monitor, started again on the same sandbox", () => {
  it.scopedLive("records the CPU time used while no monitor watched, as a window from its last reading", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* Effect.gen(function* () {
        const ledger = yield* Ledger
        const store = yield* EventStore
        const sandbox = yield* launchSandbox(yield* testRunner, dir, "cpu-again")
        const target = monitorTargetOf(sandbox)
        const usage = () => usageMicros(fs.readFileSync(path.join(target.cgroup, "cpu.stat"), "utf8"))! / 1e6
        const watch = Effect.scoped(Effect.asVoid(makeCpuMonitor({ intervalMs: 60_000 }).start(target, ledgerSink(ledger, target.sandboxId, "cpu"))))
        const work = sandbox.sh("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")
        const used = Effect.map(Stream.runCollect(store.readStream(observationStream(target.sandboxId))), (all) => [...all].map((r) => r.record).filter((r) => r.type === "CpuUsed"))

        yield* watch
        const seen = (yield* used).length
        const unwatchedFrom = new Date().toISOString()
        const before = usage()
        yield* work
        const unwatched = usage() - before
        yield* watch
        const after = yield* used
        const [gap] = after.slice(seen)
        expect(unwatched).toBeGreaterThan(0.05)
        expect(gap).toBeDefined()
        expect(String(gap!.data["from"]) <= unwatchedFrom).toBe(true)
        expect(Math.abs((gap!.data["seconds"] as number) - unwatched)).toBeLessThan(0.05)

        // a reading saved for another cgroup is not this sandbox's: the next monitor starts from now
        fs.writeFileSync(path.join(target.stateDir, "cpu-reading.json"), JSON.stringify({ cgroup: "/sys/fs/cgroup/elsewhere", usageUsec: 0, at: "2026-01-01T00:00:00.000Z" }))
        yield* work
        const count = after.length
        yield* watch
        expect((yield* used).slice(count).every((r) => r.data["from"] !== "2026-01-01T00:00:00.000Z")).toBe(true)
      }).pipe(Effect.provide(Layer.fresh(ledgerLayer(dir))))
    }), { timeout: 60_000 })
})
