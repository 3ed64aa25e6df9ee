// Reconciliation on daemon start: sandboxes the ledger holds running or paused are checked with the
// runner; the gone ones get one SandboxFoundDead, the live ones nothing. Also what exec does when a
// sandbox died behind the service's back, and stopAll on shutdown.
import { describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { fromRunnerHandle } from "../../../src/adapters/sandbox/mapping.js"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import { Runner } from "../../../src/runners/runner.js"
import { agent, allRecords, dataDir, operator, tinyTemplate, withDaemon } from "./service-fixture.js"

const streamTypes = (records: ReadonlyArray<{ stream: string; type: string }>, id: string) => records.filter((r) => r.stream === `sandbox-${id}`).map((r) => r.type)

/** Stops a sandbox with the runner directly, as if it had died on its own. */
const killBehindTheBack = (name: string) =>
  Effect.gen(function* () {
    const view = yield* (yield* SandboxService).inspect(name)
    yield* (yield* Runner).stop(fromRunnerHandle(view.handle)!)
    return view.id
  })

describe("SandboxService reconcile", () => {
  it.scopedLive("after a restart, finds the sandboxes the old daemon took down with it, once; stopped ones untouched", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      const ids = yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const running = yield* sandboxes.launch({ template: tinyTemplate, name: "running", actor: operator })
        const paused = yield* sandboxes.launch({ template: tinyTemplate, name: "paused", actor: operator })
        yield* sandboxes.pause("paused", operator)
        const stopped = yield* sandboxes.launch({ template: tinyTemplate, name: "stopped", actor: operator })
        yield* sandboxes.stop("stopped", "done", operator)
        return { running: running.id, paused: paused.id, stopped: stopped.id }
      }), { leaveSandboxes: true })
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        expect((yield* sandboxes.inspect("running")).state).toBe("running")
        const first = yield* sandboxes.reconcile()
        expect(first.dead.map((d) => d.name).sort()).toEqual(["paused", "running"])
        expect(first.dead[0]!.reason).toMatch(/reports it (gone|stopped)/)
        expect(first).toMatchObject({ alive: [], interrupted: [], unknown: [] })
        const fresh = yield* sandboxes.launch({ template: tinyTemplate, name: "fresh", actor: operator })
        const second = yield* sandboxes.reconcile()
        expect(second).toEqual({ alive: [fresh.id], dead: [], interrupted: [], unknown: [] })
        expect((yield* sandboxes.inspect("running"))).toMatchObject({ state: "failed" })
        expect((yield* sandboxes.inspect("stopped")).state).toBe("stopped")
      }))
      const records = yield* allRecords(dir)
      expect(streamTypes(records, ids.running).slice(-1)).toEqual(["SandboxFoundDead"])
      expect(streamTypes(records, ids.paused).slice(-2)).toEqual(["SandboxPaused", "SandboxFoundDead"])
      expect(streamTypes(records, ids.stopped).slice(-1)).toEqual(["SandboxStopped"])
      const dead = records.filter((r) => r.type === "SandboxFoundDead")
      expect(dead).toHaveLength(2)
      expect(dead.every((r) => r.actor.kind === "system")).toBe(true)
      expect(new Set(dead.map((r) => r.correlation)).size).toBe(2)
    })
  )

  it.scopedLive("after the daemon is SIGKILLed mid-command, the sandbox is found dead and the command left open", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      const script = fileURLToPath(new URL("./daemon-child.ts", import.meta.url))
      const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
      const child = spawn(process.execPath, ["--import", "tsx", script, dir], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] })
      const line = yield* Effect.async<string, Error>((resume) => {
        let out = ""
        let err = ""
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString("utf8")
          if (out.includes("\n")) resume(Effect.succeed(out.split("\n")[0]!))
        })
        child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString("utf8")))
        child.once("exit", (code) => resume(Effect.fail(new Error(`daemon child exited ${code}: ${err}`))))
      }).pipe(Effect.timeout("30 seconds"))
      const { id } = JSON.parse(line) as { id: string }
      yield* Effect.async<void>((resume) => {
        child.once("exit", () => resume(Effect.void))
        child.kill("SIGKILL")
      })
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        expect(yield* sandboxes.inspect("victim")).toMatchObject({ state: "running", runningExecs: 1 })
        const report = yield* sandboxes.reconcile()
        expect(report.dead).toMatchObject([{ id, name: "victim" }])
        expect(yield* sandboxes.inspect("victim")).toMatchObject({ state: "failed", runningExecs: 0 })
        expect((yield* sandboxes.reconcile()).dead).toEqual([])
        expect((yield* sandboxes.destroy("victim", operator)).state).toBe("destroyed")
      }))
      expect(streamTypes(yield* allRecords(dir), id)).toEqual(["SandboxRequested", "SandboxProvisioned", "SandboxStarted", "CommandStarted", "SandboxFoundDead", "SandboxDestroyed"])
    })
  )

  it.scopedLive("a sandbox killed behind the service's back: exec records the failure and the death; reconcile adds nothing", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      const id = yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        yield* sandboxes.launch({ template: tinyTemplate, name: "doomed", actor: operator })
        const id = yield* killBehindTheBack("doomed")
        const failed = yield* Effect.flip(sandboxes.exec("doomed", { argv: ["true"] }, agent))
        expect(failed).toMatchObject({ _tag: "SandboxOperationFailed", operation: "exec" })
        expect((yield* sandboxes.inspect("doomed")).state).toBe("failed")
        expect((yield* sandboxes.reconcile()).dead).toEqual([])
        return id
      }))
      expect(streamTypes(yield* allRecords(dir), id).slice(3)).toEqual(["CommandStarted", "CommandFailed", "SandboxFoundDead"])
    })
  )

  it.scopedLive("reconcile finds a sandbox stopped behind its back; a second run records nothing more", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      const id = yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        yield* sandboxes.launch({ template: tinyTemplate, name: "alive", actor: operator })
        yield* sandboxes.launch({ template: tinyTemplate, name: "victim", actor: operator })
        const id = yield* killBehindTheBack("victim")
        const report = yield* sandboxes.reconcile()
        expect(report.dead).toMatchObject([{ id, name: "victim", reason: expect.stringContaining("reports it stopped") }])
        expect(report.alive).toEqual([(yield* sandboxes.inspect("alive")).id])
        expect((yield* sandboxes.reconcile()).dead).toEqual([])
        return id
      }))
      expect(streamTypes(yield* allRecords(dir), id).filter((t) => t === "SandboxFoundDead")).toHaveLength(1)
    })
  )

  it.scopedLive("stopAll on shutdown stops every running and paused sandbox, recorded with the reason", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        yield* sandboxes.launch({ template: tinyTemplate, name: "one", actor: operator })
        yield* sandboxes.launch({ template: tinyTemplate, name: "two", actor: operator })
        yield* sandboxes.pause("two", operator)
        const stopped = yield* sandboxes.stopAll("daemon shutdown")
        expect(stopped.map((v) => [v.name, v.state, v.stopReason])).toEqual([["one", "stopped", "daemon shutdown"], ["two", "stopped", "daemon shutdown"]])
        expect(yield* sandboxes.stopAll("again")).toEqual([])
      }))
      const stops = (yield* allRecords(dir)).filter((r) => r.type === "SandboxStopped")
      expect(stops.map((r) => [r.data["reason"], r.actor.kind])).toEqual([["daemon shutdown", "system"], ["daemon shutdown", "system"]])
    })
  )
})
