// A caller's own record of an exec (the MCP server's ToolCalled) goes into CommandExecuted's ledger
// batch: right after it in the chain, and only when the exec itself was recorded.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import { allRecords, dataDir, operator, tinyTemplate, withDaemon } from "./service-fixture.js"

const trailer = (note: string) => () => [{ stream: "caller-x", events: [{ type: "CallerNote", data: { note } }], options: { actor: operator } }]

describe("SandboxService exec trailer", () => {
  it.scopedLive("appends the trailer with CommandExecuted, and not for an exec that is refused", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      yield* withDaemon(dir, Effect.gen(function* () {
        const sandboxes = yield* SandboxService
        yield* sandboxes.launch({ template: tinyTemplate, name: "work", actor: operator })
        const out = yield* sandboxes.exec("work", { argv: ["/bin/sh", "-c", "exit 3"] }, operator, { trailer: trailer("ran") })
        expect(out.exitCode).toBe(3)
        const refused = yield* Effect.either(sandboxes.exec("nope", { argv: ["true"] }, operator, { trailer: trailer("refused") }))
        expect(refused._tag).toBe("Left")
        yield* sandboxes.stop("work", "done", operator)
        const stopped = yield* Effect.either(sandboxes.exec("work", { argv: ["true"] }, operator, { trailer: trailer("stopped") }))
        expect(stopped._tag).toBe("Left")
      }))
      const records = yield* allRecords(dir)
      const notes = records.filter((r) => r.type === "CallerNote")
      expect(notes.map((r) => r.data["note"])).toEqual(["ran"])
      const executed = records.find((r) => r.type === "CommandExecuted")!
      expect(notes[0]!.chain.seq).toBe(executed.chain.seq + 1)
      expect(notes[0]!.revision).toBe(0)
    })
  )
})
