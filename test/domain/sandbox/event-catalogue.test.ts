// The event catalogue: every type known once, sensitive fields declared for the ledger to seal, and
// payloads decoded whether sealed, redacted or plain.
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { decodeEventData, eventDefinitions, sensitiveFields } from "../../../src/domain/events/catalogue.js"
import { redactData, seal } from "../../../src/domain/ledger/sealed.js"
import * as f from "./fixtures.js"

const salt = "ab".repeat(16)

describe("event catalogue", () => {
  it("lists each type once, the ledger's own and the sandbox's", () => {
    const types = eventDefinitions.map((d) => d.type)
    expect(new Set(types).size).toBe(types.length)
    expect(types).toEqual(expect.arrayContaining(["WriterKeyRegistered", "Checkpoint", "SandboxRequested", "CommandExecuted", "CommandRejected", "ResourceLimitHit"]))
  })

  it("declares argv, cwd, env, stdin, handles and rejected input sensitive, and output hashes not", () => {
    expect(sensitiveFields("CommandStarted")).toEqual(["argv", "cwd", "env", "stdin"])
    expect(sensitiveFields("CommandExecuted")).toEqual(["argv", "cwd", "env"])
    expect(sensitiveFields("SandboxRequested")).toEqual(["env"])
    expect(sensitiveFields("SandboxStarted")).toEqual(["handle"])
    expect(sensitiveFields("CommandRejected")).toEqual(["input"])
    expect(sensitiveFields("Checkpoint")).toEqual([])
    expect(sensitiveFields("NoSuchEvent")).toEqual([])
    for (const d of eventDefinitions) for (const field of d.sensitive) expect(["stdout", "stderr"]).not.toContain(field)
  })

  it("decodes a payload with its sensitive fields sealed, and the same payload redacted", () => {
    const data = { ...f.requested.data, env: seal({ TOKEN: "s3cret" }, salt) }
    expect(decodeEventData("SandboxRequested", data)).toEqual(Either.right(f.requested.data))
    const redacted = redactData(data, ["env"])
    const decoded = Either.getOrThrow(decodeEventData("SandboxRequested", redacted)) as { env: unknown }
    expect(decoded.env).toEqual({ $redacted: expect.stringMatching(/^[0-9a-f]{64}$/) })
  })

  it("says what is wrong with a payload that does not match, and with an unknown type", () => {
    const bad = decodeEventData("SandboxStopped", { reason: 42 })
    expect(Either.isLeft(bad) && bad.left._tag).toBe("InvalidEventData")
    expect(Either.isLeft(bad) && bad.left.message).toContain("reason")
    const unknown = decodeEventData("SandboxTeleported", {})
    expect(Either.isLeft(unknown) && unknown.left.message).toContain("unknown event type SandboxTeleported")
  })

  it("ignores fields a newer writer added (payloads only grow by optional fields)", () => {
    expect(decodeEventData("SandboxStopped", { reason: "done", by: "someone" })).toEqual(Either.right({ reason: "done" }))
  })
})
