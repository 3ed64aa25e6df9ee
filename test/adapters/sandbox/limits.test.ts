// Limits the kernel enforces, as the ledger sees them: an OOM kill and a fork refused at pids.max each
// add a ResourceLimitHit beside the command's CommandExecuted.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import { agent, allRecords, dataDir, operator, text, tinyTemplate, withDaemon } from "./service-fixture.js"

describe("SandboxService limits", () => {
  it.scopedLive("a memory hog over a 64 MB limit is OOM-killed and ResourceLimitHit{memory} recorded", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      const outcome = yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        yield* sandboxes.launch({ template: tinyTemplate, name: "hog", actor: operator, resources: { cpu_cores: 1, memory_mb: 64, pids: 64 } })
        const hog = yield* sandboxes.exec("hog", { argv: ["tail", "/dev/zero"], timeoutMs: 30_000 }, agent)
        const after = yield* sandboxes.exec("hog", { argv: ["echo", "still-up"] }, agent)
        expect(after).toMatchObject({ exitCode: 0, oomKilled: false, limitsHit: [] })
        expect(text(after.stdout)).toBe("still-up\n")
        expect((yield* sandboxes.inspect("hog")).oomKills).toBe(1)
        return hog
      }))
      expect(outcome).toMatchObject({ signal: "SIGKILL", oomKilled: true, timedOut: false, limitsHit: ["memory"] })
      const records = (yield* allRecords(dir)).filter((r) => r.stream.startsWith("sandbox-"))
      const hit = records.filter((r) => r.type === "ResourceLimitHit")
      expect(hit).toHaveLength(1)
      expect(hit[0]).toMatchObject({ actor: agent, data: { kind: "memory", count: 1, limit: 64 } })
      const executed = records.find((r) => r.id === outcome.recordId)!
      expect(executed.data).toMatchObject({ oomKilled: true, exitCode: null, signal: "SIGKILL" })
      expect(hit[0]!.data["execId"]).toBe(executed.data["execId"])
      expect(hit[0]!.correlation).toBe(executed.correlation)
    })
  )

  it.scopedLive("a fork bomb stopped at pids.max records ResourceLimitHit{pids}", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      const bomb = yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        yield* sandboxes.launch({ template: tinyTemplate, name: "bomb", actor: operator, policy: "permissive", resources: { cpu_cores: 1, memory_mb: 256, pids: 32 } })
        return yield* sandboxes.exec("bomb", { argv: ["bash", "-c", ":(){ :|:& };:"], timeoutMs: 3_000 }, agent)
      }))
      expect(bomb.limitsHit).toContain("pids")
      const hits = (yield* allRecords(dir)).filter((r) => r.type === "ResourceLimitHit" && r.data["kind"] === "pids")
      expect(hits).toHaveLength(1)
      expect(hits[0]!.data).toMatchObject({ limit: 32 })
      expect(hits[0]!.data["count"]).toBeGreaterThan(0)
    })
  )
})
