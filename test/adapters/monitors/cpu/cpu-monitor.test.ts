// The CPU monitor: cpu.stat parsing (fast-check: any text gives a count or null, never a throw), and
// against a real bwrap sandbox: a busy loop's CPU time is recorded as CpuUsed windows that add up to
// it, and the monitor's start and stop are recorded.
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { Effect } from "effect"
import { makeCpuMonitor, usageMicros } from "../../../../src/adapters/monitors/cpu/cpu-monitor.js"
import { SandboxService } from "../../../../src/adapters/sandbox/sandbox-service.js"
import { agent, dataDir, operator, tinyTemplate } from "../../sandbox/service-fixture.js"
import { records, waitFor, withEnforcingDaemon } from "../../enforcement/enforcement-fixture.js"

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
  it.scopedLive("records a busy loop's CPU time in CpuUsed windows, between MonitorStarted and MonitorStopped", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const view = yield* sandboxes.launch({ template: tinyTemplate, name: "busy", actor: operator })
        const started = Date.now()
        // about one second of CPU in one process, then idle
        yield* sandboxes.exec("busy", { argv: ["timeout", "1", "sh", "-c", "while :; do :; done"] }, agent)
        const elapsed = (Date.now() - started) / 1000
        const all = yield* waitFor(
          (a) => a.filter((r) => r.stream === `observations-${view.id}` && r.type === "CpuUsed").reduce((s, r) => s + (r.data["seconds"] as number), 0) >= 0.8,
          "about a second of CPU to be recorded",
          10_000
        )
        const used = all.filter((r) => r.stream === `observations-${view.id}` && r.type === "CpuUsed")
        const total = used.reduce((s, r) => s + (r.data["seconds"] as number), 0)
        expect(total).toBeGreaterThanOrEqual(0.8)
        // one busy process cannot use more than the wall time it had (plus the readings' slack)
        expect(total).toBeLessThan(elapsed + 1.5)
        for (const r of used) expect(String(r.data["from"]) < String(r.data["to"])).toBe(true)
        expect(all.some((r) => r.stream === `observations-${view.id}` && r.type === "MonitorStarted" && r.data["monitor"] === "cpu")).toBe(true)
        yield* sandboxes.stop("busy", "done", operator)
        const stopped = (yield* records).filter((r) => r.stream === `observations-${view.id}` && r.type === "MonitorStopped" && r.data["monitor"] === "cpu")
        expect(stopped).toHaveLength(1)
      }), undefined, [makeCpuMonitor({ intervalMs: 200 })])
    }), { timeout: 60_000 })
})
