// Refused commands on the real ledger: each is a CommandRejected record with the command, the
// reason and the actor, in the sandbox's stream or, when there is no sandbox, in host-<writer>.
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { fromRunnerHandle } from "../../../src/adapters/sandbox/mapping.js"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import { Runner } from "../../../src/runners/runner.js"
import type { LedgerRecord } from "../../../src/domain/ledger/record.js"
import { agent, allRecords, dataDir, field, operator, tinyTemplate, withDaemon } from "./service-fixture.js"

const rejections = (records: ReadonlyArray<LedgerRecord>) => records.filter((r) => r.type === "CommandRejected")

describe("SandboxService refusals", () => {
  it.scopedLive("exec in a stopped sandbox is refused and recorded in its stream", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      const id = yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const { id } = yield* sandboxes.launch({ template: tinyTemplate, name: "box", actor: operator })
        yield* sandboxes.stop("box", "break", operator)
        const refused = yield* Effect.flip(sandboxes.exec("box", { argv: ["cat", "/etc/shadow"], env: { API_KEY: "k" } }, agent))
        expect(refused).toMatchObject({ _tag: "SandboxNotRunning", state: "stopped" })
        expect(refused.message).toContain("stopped, not running")
        expect((yield* sandboxes.inspect("box")).state).toBe("stopped")
        return id
      }))
      const records = (yield* allRecords(dir)).filter((r) => r.stream === `sandbox-${id}`)
      expect(records.map((r) => r.type).slice(-2)).toEqual(["SandboxStopped", "CommandRejected"])
      const [rejected] = rejections(records)
      expect(rejected).toMatchObject({ actor: agent, data: { command: "Exec", target: "box", sandboxId: id, rejection: "SandboxNotRunning" } })
      expect(rejected!.data["reason"]).toContain("stopped")
      expect(rejected!.data["input"]).toHaveProperty("$sealed")
      expect(field(rejected!, "input")).toMatchObject({ argv: ["cat", "/etc/shadow"], env: { API_KEY: "k" } })
    })
  )

  it.scopedLive("an exec the runner cannot run (a NUL in an argument) fails that exec only; the sandbox keeps running", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        yield* sandboxes.launch({ template: tinyTemplate, name: "sturdy", actor: operator })
        const failed = yield* Effect.flip(sandboxes.exec("sturdy", { argv: ["true", "a\0b"] }, agent))
        expect(failed._tag).toBe("SandboxOperationFailed")
        expect((yield* sandboxes.inspect("sturdy")).state).toBe("running")
        expect((yield* sandboxes.exec("sturdy", { argv: ["true"] }, agent)).exitCode).toBe(0)
      }))
      const types = (yield* allRecords(dir)).map((r) => r.type)
      expect(types).toContain("CommandFailed")
      expect(types).not.toContain("SandboxFailed")
    })
  )

  it.scopedLive("an exec that finds its sandbox frozen (a pause racing it) fails that exec only; the sandbox is not failed", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const runner = yield* Runner
        const view = yield* sandboxes.launch({ template: tinyTemplate, name: "raced", actor: operator })
        // the pause lands between the exec's checks and its start: here, behind the service's back
        const handle = fromRunnerHandle(view.handle)!
        yield* runner.pause(handle)
        const failed = yield* Effect.flip(sandboxes.exec("raced", { argv: ["true"] }, agent))
        expect(failed._tag).toBe("SandboxOperationFailed")
        expect(failed.message).toContain("paused")
        expect((yield* sandboxes.inspect("raced")).state).toBe("running")
        yield* runner.resume(handle)
        expect((yield* sandboxes.exec("raced", { argv: ["true"] }, agent)).exitCode).toBe(0)
      }))
      const types = (yield* allRecords(dir)).map((r) => r.type)
      expect(types).toContain("CommandFailed")
      expect(types).not.toContain("SandboxFailed")
    })
  )

  it.scopedLive("an unknown or invalid name is refused and recorded in the host stream", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        expect(yield* Effect.flip(sandboxes.exec("ghost", { argv: ["true"] }, agent))).toMatchObject({ _tag: "SandboxNotFound", target: "ghost" })
        expect(yield* Effect.flip(sandboxes.stop("Not A Name!", "x", operator))).toMatchObject({ _tag: "SandboxNotFound" })
        expect(yield* Effect.flip(sandboxes.destroy("ghost", operator))).toMatchObject({ _tag: "SandboxNotFound" })
        const invalid = yield* Effect.flip(sandboxes.launch({ template: tinyTemplate, name: "Bad_Name", actor: operator }))
        expect(invalid).toMatchObject({ _tag: "InvalidName", name: "Bad_Name" })
        expect((yield* Effect.flip(sandboxes.inspect("ghost")))._tag).toBe("SandboxNotFound")
      }))
      const records = yield* allRecords(dir)
      const refused = rejections(records)
      expect(refused.map((r) => [r.data["command"], r.data["target"], r.data["rejection"]])).toEqual([
        ["Exec", "ghost", "SandboxNotFound"],
        ["Stop", "Not A Name!", "SandboxNotFound"],
        ["Destroy", "ghost", "SandboxNotFound"],
        ["Launch", "Bad_Name", "InvalidName"]
      ])
      expect(refused.every((r) => /^host-[0-9a-f]{16}$/.test(r.stream))).toBe(true)
      expect(refused[1]!.data["reason"]).toContain("not a valid sandbox name")
      expect(refused.map((r) => r.actor)).toEqual([agent, operator, operator, operator])
      expect(records.some((r) => r.stream.startsWith("sandbox-"))).toBe(false)
    })
  )

  it.scopedLive("a name held by a live sandbox is refused; after destroy it is free again", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const first = yield* sandboxes.launch({ template: tinyTemplate, name: "dup", actor: operator })
        const racing = yield* Effect.all([1, 2, 3].map(() => Effect.either(sandboxes.launch({ template: tinyTemplate, name: "dup2", actor: operator }))), { concurrency: "unbounded" })
        expect(racing.filter((r) => r._tag === "Right")).toHaveLength(1)
        expect(racing.filter((r) => r._tag === "Left").map((r) => r._tag === "Left" && r.left._tag)).toEqual(["NameTaken", "NameTaken"])
        expect(yield* Effect.flip(sandboxes.launch({ template: tinyTemplate, name: "dup", actor: operator }))).toMatchObject({ _tag: "NameTaken" })
        yield* sandboxes.destroy("dup", operator)
        const second = yield* sandboxes.launch({ template: tinyTemplate, name: "dup", actor: operator })
        expect(second.id).not.toBe(first.id)
        expect((yield* sandboxes.inspect("dup")).id).toBe(second.id)
        expect((yield* sandboxes.inspect(first.id)).state).toBe("destroyed")
      }))
      expect(rejections(yield* allRecords(dir)).map((r) => r.data["rejection"])).toEqual(["NameTaken", "NameTaken", "NameTaken"])
    })
  )

  it.scopedLive("resources above security.max_* are refused and recorded; nothing is created", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        const refused = yield* Effect.flip(sandboxes.launch({ template: tinyTemplate, name: "huge", actor: operator, resources: { cpu_cores: 32, memory_mb: 64 * 1024, pids: 64 } }))
        expect(refused).toMatchObject({ _tag: "LimitsExceeded" })
        expect(refused.message).toContain("security.max_cpu_cores")
        expect(refused.message).toContain("security.max_memory_gb")
        expect(yield* sandboxes.list({ includeDestroyed: true })).toEqual([])
      }))
      const records = yield* allRecords(dir)
      expect(rejections(records)).toMatchObject([{ actor: operator, data: { command: "Launch", target: "huge", sandboxId: null, rejection: "LimitsExceeded" } }])
      expect(records.some((r) => r.stream.startsWith("sandbox-"))).toBe(false)
      expect(fs.existsSync(path.join(dir, "sandboxes"))).toBe(false)
    })
  )

  it.scopedLive("pause refuses exec until resume; pausing twice is refused", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        yield* sandboxes.launch({ template: tinyTemplate, name: "nap", actor: operator })
        expect((yield* sandboxes.pause("nap", operator)).state).toBe("paused")
        expect(yield* Effect.flip(sandboxes.pause("nap", operator))).toMatchObject({ _tag: "InvalidTransition" })
        expect(yield* Effect.flip(sandboxes.exec("nap", { argv: ["true"] }, agent))).toMatchObject({ _tag: "SandboxNotRunning", state: "paused" })
        expect((yield* sandboxes.resume("nap", operator)).state).toBe("running")
        expect((yield* sandboxes.exec("nap", { argv: ["echo", "awake"] }, agent)).exitCode).toBe(0)
      }))
      const types = (yield* allRecords(dir)).filter((r) => r.stream.startsWith("sandbox-")).map((r) => r.type)
      expect(types.slice(3)).toEqual(["SandboxPaused", "CommandRejected", "CommandRejected", "SandboxResumed", "CommandStarted", "CommandExecuted"])
    })
  )

  it.scopedLive("a launch the runner cannot carry out is recorded as SandboxFailed with the runner's message", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        // An image template whose image was never built: the runner cannot create the sandbox.
        const unbuilt = { ...tinyTemplate, rootfs: { kind: "image" as const, packages: ["python3"] } }
        const failed = yield* Effect.flip(sandboxes.launch({ template: unbuilt, name: "proxied", actor: operator }))
        expect(failed).toMatchObject({ _tag: "SandboxOperationFailed", operation: "launch" })
        const view = yield* sandboxes.inspect("proxied")
        expect(view).toMatchObject({ state: "failed" })
        expect(view.failure).toContain((failed as { reason: string }).reason)
        expect((yield* sandboxes.destroy("proxied", operator)).state).toBe("destroyed")
      }))
      const types = (yield* allRecords(dir)).filter((r) => r.stream.startsWith("sandbox-")).map((r) => r.type)
      expect(types).toEqual(["SandboxRequested", "SandboxFailed", "SandboxDestroyed"])
    })
  )
})
