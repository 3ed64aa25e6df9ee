// A quota, and disk_gb, count what the sandbox did before the policy engine (re)started watching it —
// as after a daemon restart: the engine rebuilds the usage, the workspace's files (and what it
// already reported) from the sandbox's observations in the ledger instead of starting from zero.
// Real bwrap, monitors and ledger; the engine forgets the sandbox (`ended`) and is handed it again
// (`running`), the path a restarted daemon takes.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Enforcer } from "../../../src/adapters/enforcement/enforcer.js"
import { fromRunnerHandle } from "../../../src/adapters/sandbox/mapping.js"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import type { LedgerRecord } from "../../../src/domain/ledger/record.js"
import { agent, dataDir, operator, tinyTemplate } from "../sandbox/service-fixture.js"
import { apply, records, waitFor, withEnforcingDaemon } from "./enforcement-fixture.js"

const of = (sandboxId: string, type: string) => (all: ReadonlyArray<LedgerRecord>) => all.filter((r) => r.stream === `observations-${sandboxId}` && r.type === type)

describe("policy engine, watching a sandbox again", () => {
  it.scopedLive("usage from before counts toward the weekly quota: 800 B then 400 B of a 1 KiB quota pauses the sandbox", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        const enforcer = yield* Enforcer
        const sandboxes = yield* SandboxService
        yield* apply({ name: "tiny-disk", description: "1 KiB of writes a week", extends: "restricted", resources: { quotas: { weekly_disk_writes_gb: 1 / 1048576 } } })
        const view = yield* sandboxes.launch({ template: tinyTemplate, name: "writer", actor: operator, policy: "tiny-disk" })
        yield* sandboxes.exec("writer", { argv: ["sh", "-c", "head -c 800 /dev/zero > first"] }, agent)
        yield* waitFor((a) => of(view.id, "FileChanged")(a).some((r) => r.data["path"] === "first"), "the first write to be observed")
        yield* enforcer.settled
        expect(of(view.id, "PolicyViolated")(yield* records)).toEqual([])

        yield* enforcer.ended(view.id)
        yield* enforcer.running(view, fromRunnerHandle((yield* sandboxes.inspect("writer")).handle)!)

        yield* sandboxes.exec("writer", { argv: ["sh", "-c", "head -c 400 /dev/zero > second"] }, agent)
        const all = yield* waitFor((a) => of(view.id, "PolicyActionTaken")(a).length > 0, "the pause to be recorded")
        expect(of(view.id, "PolicyViolated")(all).map((r) => r.data)).toEqual([
          expect.objectContaining({ kind: "quota", rule: "resources.quotas.weekly_disk_writes_gb", action: "pause" })
        ])
        expect((yield* sandboxes.inspect("writer")).state).toBe("paused")
      }))
    }), { timeout: 120_000 })

  it.scopedLive("the workspace's size from before counts toward disk_gb: 800 B then 400 B of a 1 KiB limit", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withEnforcingDaemon(dir, Effect.gen(function* () {
        const enforcer = yield* Enforcer
        const sandboxes = yield* SandboxService
        yield* apply({ name: "tiny-workspace", description: "1 KiB of files", extends: "restricted", resources: { limits: { disk_gb: 1 / 1048576 } } })
        const view = yield* sandboxes.launch({ template: tinyTemplate, name: "holder", actor: operator, policy: "tiny-workspace" })
        yield* sandboxes.exec("holder", { argv: ["sh", "-c", "head -c 800 /dev/zero > first"] }, agent)
        yield* waitFor((a) => of(view.id, "FileChanged")(a).some((r) => r.data["path"] === "first"), "the first file to be observed")
        yield* enforcer.settled

        yield* enforcer.ended(view.id)
        yield* enforcer.running(view, fromRunnerHandle((yield* sandboxes.inspect("holder")).handle)!)

        yield* sandboxes.exec("holder", { argv: ["sh", "-c", "head -c 400 /dev/zero > second"] }, agent)
        const all = yield* waitFor((a) => of(view.id, "PolicyActionTaken")(a).length > 0, "the alert to be recorded")
        expect(of(view.id, "PolicyViolated")(all).map((r) => r.data)).toEqual([
          expect.objectContaining({ kind: "resource-limit", rule: "resources.limits.disk_gb", action: "alert" })
        ])
      }))
    }), { timeout: 120_000 })
})
