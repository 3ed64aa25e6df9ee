// The acceptance session on a real ledger and the real bwrap runner: launch, 20 commands, stop,
// destroy; the ledger verifies in full and holds every command with its exit code, in order.
import { describe, expect, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import * as path from "node:path"
import { Effect, Fiber, Stream } from "effect"
import { verifyLedger } from "../../../src/adapters/ledger/verify.js"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import { EventStore } from "../../../src/adapters/store/event-store.js"
import { foldSandboxes, listSandboxes } from "../../../src/projections/sandboxes.js"
import { readOnlyStore } from "../../support/ledger-fixture.js"
import { allRecords, dataDir, exists, field, operator, text, tinyTemplate, withDaemon } from "./service-fixture.js"

describe("SandboxService session", () => {
  it.scopedLive("launch, 20 execs, stop, destroy: every step in the ledger, in order, and the ledger verifies", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      const { sandboxId, outcomes, rebuilt, kept } = yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const launched = yield* sandboxes.launch({ template: tinyTemplate, name: "work", actor: operator, env: { GREETING: "hello" } })
        expect(launched).toMatchObject({ name: "work", state: "running", template: "tiny", runner: "bwrap", owner: operator, execCount: 0 })
        expect(exists(path.join(dir, "sandboxes", launched.id, "workspace"))).toBe(true)
        const outcomes = []
        for (let i = 0; i < 20; i++) {
          outcomes.push(yield* sandboxes.exec("work", { argv: ["/bin/sh", "-c", `echo "$GREETING ${i}"; echo err${i} >&2; exit ${i % 4}`] }, operator))
        }
        const stopped = yield* sandboxes.stop("work", "session over", operator)
        expect(stopped).toMatchObject({ state: "stopped", stopReason: "session over", execCount: 20 })
        const destroyed = yield* sandboxes.destroy(launched.id, operator)
        expect(destroyed.state).toBe("destroyed")
        expect(exists(path.join(dir, "sandboxes", launched.id))).toBe(false)
        expect(yield* sandboxes.list()).toEqual([])
        const store = yield* EventStore
        const rebuilt = listSandboxes(yield* foldSandboxes(store.readAll().pipe(Stream.map((s) => s.record))), { includeDestroyed: true })
        const kept = listSandboxes(yield* sandboxes.model, { includeDestroyed: true })
        for (const [i, o] of outcomes.entries()) {
          expect(o).toMatchObject({ exitCode: i % 4, signal: null, timedOut: false, oomKilled: false, limitsHit: [] })
          expect(text(o.stdout)).toBe(`hello ${i}\n`)
          expect(text(o.stderr)).toBe(`err${i}\n`)
          expect(o.stdoutRef.sha256).toBe(createHash("sha256").update(o.stdout).digest("hex"))
          expect(yield* sandboxes.readOutput(o.stdoutRef.sha256)).toEqual(new Uint8Array(o.stdout))
        }
        return { sandboxId: launched.id, outcomes, rebuilt, kept }
      }))
      expect(rebuilt).toEqual(kept)

      const report = yield* Effect.flatMap(EventStore, (store) => verifyLedger(store, { mode: "full", workers: 0 })).pipe(Effect.provide(readOnlyStore(dir)), Effect.scoped)
      expect(report.ok).toBe(true)

      const records = (yield* allRecords(dir)).filter((r) => r.stream === `sandbox-${sandboxId}`)
      expect(records.map((r) => r.type)).toEqual([
        "SandboxRequested",
        "SandboxProvisioned",
        "SandboxStarted",
        ...Array.from({ length: 20 }, () => ["CommandStarted", "CommandExecuted"]).flat(),
        "SandboxStopped",
        "SandboxDestroyed"
      ])
      records.forEach((r, i) => expect(r.revision).toBe(i))
      expect(records.every((r) => r.actor.kind === "operator" && r.actor.id === "alice")).toBe(true)
      const executed = records.filter((r) => r.type === "CommandExecuted")
      expect(executed.map((r) => r.data["exitCode"])).toEqual(Array.from({ length: 20 }, (_, i) => i % 4))
      expect(executed.map((r) => (field(r, "argv") as Array<string>)[2])).toEqual(outcomes.map((_, i) => `echo "$GREETING ${i}"; echo err${i} >&2; exit ${i % 4}`))
      expect(executed.map((r) => r.id)).toEqual(outcomes.map((o) => o.recordId))
      // Sensitive values are sealed in the record; output is referenced by hash only.
      expect(executed[0]!.data["argv"]).toHaveProperty("$sealed")
      expect(records[0]!.data["env"]).toEqual({ $sealed: { salt: expect.any(String), value: { GREETING: "hello" } } })
      expect(records[2]!.data["handle"]).toHaveProperty("$sealed")
      expect(executed[0]!.data["stdout"]).toEqual({ sha256: outcomes[0]!.stdoutRef.sha256, bytes: 8, truncated: false })
      // One correlation per command: the pair of each exec shares it, distinct from the others.
      const started = records.filter((r) => r.type === "CommandStarted")
      started.forEach((s, i) => {
        expect(executed[i]!.correlation).toBe(s.correlation)
        expect(executed[i]!.causation).toBe(s.id)
      })
      expect(new Set(started.map((s) => s.correlation)).size).toBe(20)
      expect(records[1]!.correlation).toBe(records[0]!.correlation)
      expect(records[1]!.causation).toBe(records[0]!.id)
    })
  )

  it.scopedLive("commands run side by side; stop does not wait for a long command, whose end is recorded after the stop", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      const id = yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const { id } = yield* sandboxes.launch({ template: tinyTemplate, name: "busy", actor: operator })
        const long = yield* Effect.fork(sandboxes.exec("busy", { argv: ["sleep", "30"], timeoutMs: 60_000 }, operator))
        const quick = yield* Effect.all(
          Array.from({ length: 5 }, (_, i) => sandboxes.exec("busy", { argv: ["echo", String(i)] }, operator)),
          { concurrency: "unbounded" }
        )
        expect(quick.map((o) => text(o.stdout))).toEqual(["0\n", "1\n", "2\n", "3\n", "4\n"])
        while ((yield* sandboxes.inspect("busy")).runningExecs === 0) yield* Effect.sleep("10 millis")
        const started = performance.now()
        yield* sandboxes.stop("busy", "enough", operator)
        expect(performance.now() - started).toBeLessThan(5_000)
        const killed = yield* Fiber.join(long)
        expect(killed).toMatchObject({ exitCode: null, signal: "SIGKILL" })
        expect(yield* sandboxes.inspect("busy")).toMatchObject({ state: "stopped", execCount: 6, runningExecs: 0 })
        return id
      }))
      const records = (yield* allRecords(dir)).filter((r) => r.stream === `sandbox-${id}`)
      records.forEach((r, i) => expect(r.revision).toBe(i))
      expect(records.filter((r) => r.type === "CommandStarted")).toHaveLength(6)
      expect(records.filter((r) => r.type === "CommandExecuted")).toHaveLength(6)
      expect(records.map((r) => r.type).slice(-2)).toEqual(["SandboxStopped", "CommandExecuted"])
    })
  )
})
