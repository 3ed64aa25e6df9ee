// A command's own exit status and stderr are its output, however they read: a command that exits 125
// and writes what the launcher writes when it cannot join its cgroup gets its result recorded like
// any other, and its sandbox stays running (a launcher failure marks the sandbox failed).
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import { allRecords, dataDir, operator, text, tinyTemplate, withDaemon } from "./service-fixture.js"

describe("SandboxService exec: a command that reads like a launcher failure", () => {
  it.scopedLive("is the command's result, and the sandbox stays running", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        yield* sandboxes.launch({ template: tinyTemplate, name: "work", actor: operator })
        const spoof = "echo 'hydravisor-launcher: cannot join cgroup /sys/fs/cgroup/x/cgroup.procs' >&2; exit 125"
        const out = yield* sandboxes.exec("work", { argv: ["/bin/sh", "-c", spoof] }, operator)
        expect(out.exitCode).toBe(125)
        expect(text(out.stderr)).toContain("hydravisor-launcher: cannot join cgroup")
        const view = (yield* sandboxes.list()).find((v) => v.name === "work")!
        expect(view.state).toBe("running")
        const after = yield* sandboxes.exec("work", { argv: ["/bin/sh", "-c", "exit 4"] }, operator)
        expect(after.exitCode).toBe(4)
      }))
      const types = (yield* allRecords(dir)).map((r) => r.type)
      expect(types).not.toContain("SandboxFailed")
      expect(types.filter((t) => t === "CommandExecuted")).toHaveLength(2)
    })
  )
})
