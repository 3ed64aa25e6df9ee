// The policy engine against real sandboxes and real monitors: for each rule kind found in
// observations (command, network, dns, quota), the rule fires, its action happens and both are in the
// ledger; and the same sandbox doing something allowed records no violation.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Enforcer } from "../../../src/adapters/enforcement/enforcer.js"
import { makeCpuMonitor } from "../../../src/adapters/monitors/cpu/cpu-monitor.js"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import type { LedgerRecord } from "../../../src/domain/ledger/record.js"
import { unseal } from "../../../src/domain/ledger/sealed.js"
import { agent, dataDir, operator, tinyTemplate } from "../sandbox/service-fixture.js"
import { apply, records, waitFor, withEnforcingDaemon } from "./enforcement-fixture.js"

const of = (sandboxId: string, type: string) => (all: ReadonlyArray<LedgerRecord>) =>
  all.filter((r) => r.stream === `observations-${sandboxId}` && r.type === type)

const argvIs = (prefix: string) => (r: LedgerRecord) => {
  const argv = unseal(r.data["argv"]) as ReadonlyArray<string> | undefined
  return Array.isArray(argv) && argv.join(" ").startsWith(prefix)
}

// A program the command rules do not see in the exec's argv: python starts it at run time.
const runLater = (argv: ReadonlyArray<string>) => ["python3", "-c", `import os; os.execvp(${JSON.stringify(argv[0])}, ${JSON.stringify(argv)})`]

describe("policy engine", () => {
  it.scopedLive("command rule: a blocked program started at run time is killed; PolicyViolated and PolicyActionTaken recorded", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        yield* apply({ name: "no-sleep", description: "sleep is blocked", extends: "restricted", commands: { blocked: ["sleep", "touch"] }, violations: { command: { severity: "high", action: "kill-process" } } })
        const sandboxes = yield* SandboxService
        const view = yield* sandboxes.launch({ template: tinyTemplate, name: "sleepy", actor: operator, policy: "no-sleep" })
        // The direct form is refused before it runs (the runner prepares it meanwhile, and withdraws it).
        expect(yield* Effect.flip(sandboxes.exec("sleepy", { argv: ["sleep", "1"] }, agent))).toMatchObject({ _tag: "PolicyRefused", rule: expect.stringContaining("commands.blocked") })
        expect(yield* Effect.flip(sandboxes.exec("sleepy", { argv: ["touch", "/workspace/refused"] }, agent))).toMatchObject({ _tag: "PolicyRefused" })
        yield* Effect.sleep("200 millis")
        expect(Buffer.from((yield* sandboxes.exec("sleepy", { argv: ["ls", "-a", "/workspace"] }, agent)).stdout).toString()).not.toContain("refused")
        const started = Date.now()
        const out = yield* sandboxes.exec("sleepy", { argv: runLater(["sleep", "30"]), timeoutMs: 25_000 }, agent)
        expect(Date.now() - started).toBeLessThan(20_000)
        expect(out.signal).toBe("SIGKILL")
        const all = yield* waitFor((a) => of(view.id, "PolicyActionTaken")(a).length > 0, "the kill to be recorded")
        const [violation] = of(view.id, "PolicyViolated")(all)
        expect(violation?.data).toMatchObject({ policy: "no-sleep", kind: "command", severity: "high", action: "kill-process" })
        const evidence = all.find((r) => r.id === (violation?.data["evidence"] as ReadonlyArray<string>)[0])
        expect(evidence?.type).toBe("ProcessStarted")
        expect(argvIs("sleep 30")(evidence!)).toBe(true)
        expect(of(view.id, "PolicyActionTaken")(all)[0]?.data).toMatchObject({ violation: violation?.id, action: "kill-process", outcome: "succeeded" })
      }))
    }), { timeout: 120_000 })

  it.scopedLive("command rule does not fire for an allowed program", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const view = yield* sandboxes.launch({ template: tinyTemplate, name: "calm", actor: operator })
        const out = yield* sandboxes.exec("calm", { argv: runLater(["sleep", "0.2"]) }, agent)
        expect(out.exitCode).toBe(0)
        const all = yield* waitFor((a) => of(view.id, "ProcessStarted")(a).some(argvIs("sleep 0.2")), "the sleep to be observed")
        expect(of(view.id, "PolicyViolated")(all)).toEqual([])
      }))
    }), { timeout: 120_000 })

  it.scopedLive("network rule: a connection attempt in mode none is denied, recorded, and under `restricted` stops the sandbox", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const view = yield* sandboxes.launch({ template: tinyTemplate, name: "leaky", actor: operator })
        const connect = "import socket\ntry:\n  socket.create_connection(('10.255.0.9', 80), timeout=2)\nexcept OSError as e:\n  print(e)"
        yield* sandboxes.exec("leaky", { argv: ["python3", "-c", connect] }, agent)
        const all = yield* waitFor((a) => of(view.id, "PolicyActionTaken")(a).length > 0, "the stop to be recorded")
        const [violation] = of(view.id, "PolicyViolated")(all)
        expect(violation?.data).toMatchObject({ policy: "restricted", kind: "network", severity: "critical", action: "stop" })
        expect(of(view.id, "ConnectionAttempted")(all)[0]?.data).toMatchObject({ decision: "denied", address: "10.255.0.9", port: 80 })
        expect(of(view.id, "PolicyActionTaken")(all)[0]?.data).toMatchObject({ action: "stop", outcome: "succeeded" })
        expect((yield* sandboxes.inspect("leaky")).state).toBe("stopped")
        const stopped = all.find((r) => r.stream === `sandbox-${view.id}` && r.type === "SandboxStopped")
        expect(String(stopped?.data["reason"])).toContain("policy restricted")
        expect(stopped?.actor).toEqual({ kind: "system", id: "policy-engine" })
      }))
    }), { timeout: 120_000 })

  it.scopedLive("network rule does not fire for the sandbox's own loopback", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const view = yield* sandboxes.launch({ template: tinyTemplate, name: "local", actor: operator })
        const loop = "import socket\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\nc=socket.create_connection(s.getsockname()); print('ok')"
        const out = yield* sandboxes.exec("local", { argv: ["python3", "-c", loop] }, agent)
        expect(Buffer.from(out.stdout).toString()).toContain("ok")
        const all = yield* waitFor((a) => of(view.id, "ProcessStarted")(a).some(argvIs("python3")), "python to be observed")
        expect(of(view.id, "PolicyViolated")(all)).toEqual([])
        expect((yield* sandboxes.inspect("local")).state).toBe("running")
      }))
    }), { timeout: 120_000 })

  it.scopedLive("quota rule: writing past weekly_disk_writes_gb pauses the sandbox; below it nothing fires", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        // 2^-20 GB = 1 KiB a week.
        yield* apply({ name: "tiny-disk", description: "1 KiB of writes a week", extends: "restricted", resources: { quotas: { weekly_disk_writes_gb: 1 / 1048576 } } })
        const sandboxes = yield* SandboxService
        const view = yield* sandboxes.launch({ template: tinyTemplate, name: "writer", actor: operator, policy: "tiny-disk" })
        yield* sandboxes.exec("writer", { argv: ["sh", "-c", "head -c 100 /dev/zero > small"] }, agent)
        yield* waitFor((a) => of(view.id, "FileChanged")(a).some((r) => r.data["path"] === "small"), "the small write to be observed")
        expect(of(view.id, "PolicyViolated")(yield* records)).toEqual([])
        yield* sandboxes.exec("writer", { argv: ["sh", "-c", "head -c 4096 /dev/zero > big"] }, agent)
        const all = yield* waitFor((a) => of(view.id, "PolicyActionTaken")(a).length > 0, "the pause to be recorded")
        expect(of(view.id, "PolicyViolated")(all)[0]?.data).toMatchObject({ kind: "quota", rule: "resources.quotas.weekly_disk_writes_gb", action: "pause" })
        expect(of(view.id, "PolicyActionTaken")(all)[0]?.data).toMatchObject({ action: "pause", outcome: "succeeded" })
        expect((yield* sandboxes.inspect("writer")).state).toBe("paused")
      }))
    }), { timeout: 120_000 })
})

describe("policy engine, disk", () => {
  it.scopedLive("resource-limit rule: a workspace holding more than disk_gb is stopped; rewriting files smaller keeps it under", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        // 2^-20 GB = 1 KiB of files at a time
        yield* apply({ name: "tiny-workspace", description: "1 KiB of files", extends: "restricted", resources: { limits: { disk_gb: 1 / 1048576 } }, violations: { "resource-limit": { severity: "high", action: "stop" } } })
        const sandboxes = yield* SandboxService
        const view = yield* sandboxes.launch({ template: tinyTemplate, name: "filler", actor: operator, policy: "tiny-workspace" })
        expect(view.resources.disk_gb).toBe(1 / 1048576)
        const seen = (path: string, size: number) => (a: ReadonlyArray<LedgerRecord>) => of(view.id, "FileChanged")(a).some((r) => r.data["path"] === path && r.data["size"] === size)
        // 800 B, then the same file rewritten to 300 B and another of 600 B: 1,700 B written, 900 B held
        yield* sandboxes.exec("filler", { argv: ["sh", "-c", "head -c 800 /dev/zero > a"] }, agent)
        yield* waitFor(seen("a", 800), "the first file to be observed")
        yield* sandboxes.exec("filler", { argv: ["sh", "-c", "head -c 300 /dev/zero > a; head -c 600 /dev/zero > b"] }, agent)
        yield* waitFor((a) => seen("a", 300)(a) && seen("b", 600)(a), "the rewrite to be observed")
        // everything observed so far is judged before the check that nothing was found
        yield* (yield* Enforcer).settled
        expect(of(view.id, "PolicyViolated")(yield* records)).toEqual([])
        yield* sandboxes.exec("filler", { argv: ["sh", "-c", "head -c 400 /dev/zero > c"] }, agent)
        const all = yield* waitFor((a) => of(view.id, "PolicyActionTaken")(a).length > 0, "the stop to be recorded")
        expect(of(view.id, "PolicyViolated")(all).map((r) => r.data)).toEqual([
          expect.objectContaining({ kind: "resource-limit", rule: "resources.limits.disk_gb", severity: "high", action: "stop" })
        ])
        expect(of(view.id, "PolicyActionTaken")(all)[0]?.data).toMatchObject({ action: "stop", outcome: "succeeded" })
        expect((yield* sandboxes.inspect("filler")).state).toBe("stopped")
      }))
    }), { timeout: 120_000 })
})

describe("policy engine, CPU", () => {
  it.scopedLive("quota rule: CPU time past daily_cpu_hours pauses the sandbox; below it nothing fires", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        // 0.5 s of CPU a day
        yield* apply({ name: "tiny-cpu", description: "half a CPU second a day", extends: "restricted", resources: { quotas: { daily_cpu_hours: 0.5 / 3600 } } })
        const sandboxes = yield* SandboxService
        const view = yield* sandboxes.launch({ template: tinyTemplate, name: "spinner", actor: operator, policy: "tiny-cpu" })
        yield* sandboxes.exec("spinner", { argv: ["true"] }, agent)
        yield* Effect.sleep("500 millis")
        expect(of(view.id, "PolicyViolated")(yield* records)).toEqual([])
        // in the background: the pause freezes it mid-loop, and an exec waiting on it would wait frozen too
        // (20 s, so that even a busy host gives it the half second long before then)
        yield* sandboxes.exec("spinner", { argv: ["sh", "-c", "timeout 20 sh -c 'while :; do :; done' >/dev/null 2>&1 &"] }, agent)
        const all = yield* waitFor((a) => of(view.id, "PolicyActionTaken")(a).length > 0, "the pause to be recorded")
        expect(of(view.id, "CpuUsed")(all).length).toBeGreaterThan(0)
        expect(of(view.id, "PolicyViolated")(all)[0]?.data).toMatchObject({ kind: "quota", rule: "resources.quotas.daily_cpu_hours", action: "pause" })
        expect(of(view.id, "PolicyActionTaken")(all)[0]?.data).toMatchObject({ action: "pause", outcome: "succeeded" })
        expect((yield* sandboxes.inspect("spinner")).state).toBe("paused")
      }), undefined, [makeCpuMonitor({ intervalMs: 200 })])
    }), { timeout: 120_000 })
})

describe("policy engine, DNS", () => {
  it.scopedLive("dns rule: looking up a name outside the allowlist is refused by the DNS filter and recorded as a violation; an allowed name is not", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        yield* apply({
          name: "registry-only",
          description: "one allowed name",
          extends: "restricted",
          network: { mode: "allowlist", allowlist: [{ host: "allowed.hv.test", port: 443 }], dns: { filter: true } },
          violations: { dns: { severity: "medium", action: "alert" } }
        })
        const sandboxes = yield* SandboxService
        const template = { ...tinyTemplate, network: { mode: "allowlist" as const, allowlist: [{ host: "allowed.hv.test", port: 443 }] } }
        const view = yield* sandboxes.launch({ template, name: "resolver", actor: operator, policy: "registry-only" })
        expect(view.network.mode).toBe("allowlist")
        const lookup = (name: string) => ["python3", "-c", `import socket\ntry:\n  print(socket.gethostbyname(${JSON.stringify(name)}))\nexcept OSError as e:\n  print('failed', e)`]
        yield* sandboxes.exec("resolver", { argv: lookup("allowed.hv.test") }, agent)
        const first = yield* waitFor((a) => of(view.id, "ConnectionAttempted")(a).some((r) => r.data["host"] === "allowed.hv.test"), "the allowed lookup to be recorded")
        expect(of(view.id, "PolicyViolated")(first).map((r) => [r.data["rule"], r.data["kind"], unseal(r.data["detail"])])).toEqual([])
        const out = yield* sandboxes.exec("resolver", { argv: lookup("exfil.evil.hv.test") }, agent)
        expect(Buffer.from(out.stdout).toString()).toContain("failed")
        const all = yield* waitFor((a) => of(view.id, "PolicyActionTaken")(a).length > 0, "the alert to be recorded")
        const attempt = of(view.id, "ConnectionAttempted")(all).find((r) => r.data["host"] === "exfil.evil.hv.test")
        expect(attempt?.data).toMatchObject({ protocol: "dns", decision: "denied", via: "dns" })
        expect(of(view.id, "PolicyViolated")(all)[0]?.data).toMatchObject({ kind: "dns", severity: "medium", action: "alert", evidence: [attempt?.id] })
        expect(of(view.id, "PolicyActionTaken")(all)[0]?.data).toMatchObject({ action: "alert", outcome: "succeeded" })
        expect((yield* sandboxes.inspect("resolver")).state).toBe("running")
      }))
    }), { timeout: 120_000 })
})

describe("policy limits the monitors apply", () => {
  it.scopedLive("network_mbps from the policy reaches the egress proxy: the network monitor starts with it", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        yield* apply({ name: "slow-net", description: "2 Mbit/s", extends: "restricted", network: { mode: "allowlist", allowlist: [{ host: "pypi.org", port: 443 }] }, resources: { limits: { network_mbps: 2 } } })
        const sandboxes = yield* SandboxService
        const template = { ...tinyTemplate, network: { mode: "allowlist" as const, allowlist: [{ host: "pypi.org", port: 443 }] } }
        const view = yield* sandboxes.launch({ template, name: "throttled", actor: operator, policy: "slow-net" })
        expect(view.resources.network_mbps).toBe(2)
        const all = yield* waitFor((a) => of(view.id, "MonitorStarted")(a).some((r) => r.data["monitor"] === "network"), "the network monitor to start")
        const started = of(view.id, "MonitorStarted")(all).find((r) => r.data["monitor"] === "network")
        expect(started?.data["mechanism"]).toContain("at most 2 Mbit/s each way")
      }))
    }), { timeout: 120_000 })
})
