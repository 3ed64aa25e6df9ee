// A runner failure that marks a live sandbox failed also stops it: the failure ends its monitors and
// policy enforcement, so nothing of it may run on unwatched. Here the spawner helper dies under an
// exec while an earlier exec's background process still runs in the sandbox.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as fs from "node:fs"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import { exited } from "../../support/cli-session.js"
import { allRecords, dataDir, operator, text, tinyTemplate, withDaemon } from "./service-fixture.js"

/** Pids of this process's children running the spawner helper (`node -e <helper source>`). */
const spawnerHelpers = () =>
  fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name)).filter((pid) => {
    try {
      const ppid = Number(fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1])
      return ppid === process.pid && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("PIPE_GRACE_MS")
    } catch {
      return false
    }
  }).map(Number)

describe("SandboxService: a runner failure", () => {
  it.scopedLive("marks the sandbox failed and stops what still ran in it", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        yield* sandboxes.launch({ template: tinyTemplate, name: "doomed", actor: operator })
        // a background process that outlives its exec (its host pid, read from inside)
        const started = yield* sandboxes.exec("doomed", { argv: ["/bin/sh", "-c", "sleep 301.25 >/dev/null 2>&1 & echo started"] }, operator)
        expect(text(started.stdout)).toBe("started\n")
        const sleeper = fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name)).map(Number).find((pid) => {
          try {
            return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8") === "sleep\u0000301.25\u0000"
          } catch {
            return false
          }
        })
        expect(sleeper).toBeDefined()
        const running = yield* Effect.fork(Effect.either(sandboxes.exec("doomed", { argv: ["sleep", "30"] }, operator)))
        yield* Effect.sleep("500 millis")
        const helpers = spawnerHelpers()
        expect(helpers.length).toBeGreaterThan(0)
        for (const pid of helpers) process.kill(pid, "SIGKILL")
        const failed = yield* Fiber.join(running)
        expect(failed._tag).toBe("Left")
        const view = yield* sandboxes.inspect("doomed")
        expect(view.state).toBe("failed")
        expect(view.failure).toContain("spawner process")
        expect(yield* Effect.promise(() => exited(sleeper!, 2_000))).toBe(true)
      }))
      const types = (yield* allRecords(dir)).map((r) => r.type)
      expect(types).toContain("SandboxFailed")
    })
  )
})
