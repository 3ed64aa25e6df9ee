// The CPU monitor: cpu.stat parsing (fast-check: any text gives a count or null, never a throw), and
// against a real bwrap sandbox: the CPU time of a command's work is recorded as CpuUsed windows that
// add up to what the sandbox's cgroup counted, and the monitor's start and stop are recorded.
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeCpuMonitor, usageMicros } from "../../../../src/adapters/monitors/cpu/cpu-monitor.js"
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
