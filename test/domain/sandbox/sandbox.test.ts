// The Sandbox decider, given/when/then: given these events, when this command, then these events
// (or this rejection). The table covers every command in every state; the cases after it the rules.
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import type { SandboxCommand } from "../../../src/domain/sandbox/sandbox-commands.js"
import type { SandboxEvent } from "../../../src/domain/sandbox/sandbox-events.js"
import { decide, evolve, fold, initialState, type LifecycleOrInitial } from "../../../src/domain/sandbox/sandbox.js"
import * as f from "./fixtures.js"

const given = (events: ReadonlyArray<SandboxEvent>) => ({
  when: (command: SandboxCommand) => {
    const decision = decide(command, fold(events))
    return {
      then: (expected: ReadonlyArray<SandboxEvent>) => expect(decision).toEqual(Either.right(expected)),
      thenTypes: (types: ReadonlyArray<string>) => {
        if (Either.isLeft(decision)) throw new Error(`expected events ${types.join(", ")}, got ${decision.left._tag}: ${decision.left.reason}`)
        expect(decision.right.map((e) => e.type)).toEqual(types)
      },
      thenRejected: (tag: string) => {
        if (Either.isRight(decision)) throw new Error(`expected ${tag}, got events ${decision.right.map((e) => e.type).join(", ")}`)
        expect(decision.left._tag).toBe(tag)
        expect(decision.left.reason.length).toBeGreaterThan(0)
        return decision.left
      }
    }
  }
})

const states: ReadonlyArray<LifecycleOrInitial> = ["initial", "requested", "provisioning", "running", "paused", "stopped", "destroyed", "failed"]

const IT = "InvalidTransition"
const SNR = "SandboxNotRunning"
const UE = "UnknownExec"

/** Per command, per state (in the order of `states`): the events it yields, or the rejection's tag. */
const table: Record<SandboxCommand["_tag"], ReadonlyArray<string | ReadonlyArray<string>>> = {
  Launch: [["SandboxRequested"], IT, IT, IT, IT, IT, IT, IT],
  RecordProvisioned: [IT, ["SandboxProvisioned"], IT, IT, IT, IT, IT, IT],
  RecordStarted: [IT, IT, ["SandboxStarted"], IT, IT, IT, IT, IT],
  Exec: [IT, SNR, SNR, ["CommandStarted"], SNR, SNR, SNR, SNR],
  RecordExecuted: [IT, UE, UE, UE, UE, UE, UE, UE],
  RecordExecFailed: [IT, UE, UE, UE, UE, UE, UE, UE],
  Pause: [IT, SNR, SNR, ["SandboxPaused"], IT, SNR, SNR, SNR],
  Resume: [IT, IT, IT, IT, ["SandboxResumed"], IT, IT, IT],
  Stop: [IT, SNR, SNR, ["SandboxStopped"], ["SandboxStopped"], SNR, SNR, SNR],
  Destroy: [IT, ["SandboxDestroyed"], ["SandboxDestroyed"], ["SandboxStopped", "SandboxDestroyed"], ["SandboxStopped", "SandboxDestroyed"], ["SandboxDestroyed"], IT, ["SandboxDestroyed"]],
  MarkDead: [IT, IT, ["SandboxFoundDead"], ["SandboxFoundDead"], ["SandboxFoundDead"], IT, IT, IT],
  RecordFailed: [IT, ["SandboxFailed"], ["SandboxFailed"], ["SandboxFailed"], ["SandboxFailed"], ["SandboxFailed"], IT, IT]
}

describe("Sandbox decider: every command in every state", () => {
  for (const [tag, outcomes] of Object.entries(table) as Array<[SandboxCommand["_tag"], ReadonlyArray<string | ReadonlyArray<string>>]>) {
    states.forEach((state, i) => {
      const outcome = outcomes[i]!
      it(`${tag} when ${state} → ${typeof outcome === "string" ? outcome : outcome.join(" + ")}`, () => {
        const result = given(f.given[state]).when(f.commands[tag])
        if (typeof outcome === "string") result.thenRejected(outcome)
        else result.thenTypes(outcome)
      })
    })
  }
})

describe("Sandbox decider: launch", () => {
  it("records the request with the resolved template, limits, owner and session end", () => {
    given([]).when(f.launch()).then([f.requested])
  })

  it("refuses a name that is not lower-case letters, digits and '-'", () => {
    for (const name of ["", "Alpha", "-alpha", "a b", "a".repeat(64), "ä"]) given([]).when(f.launch({ name })).thenRejected("InvalidName")
    given([]).when(f.launch({ name: "a".repeat(63) })).thenTypes(["SandboxRequested"])
  })

  it("refuses a name another live sandbox holds", () => {
    const rejection = given([]).when(f.launch({ namesInUse: ["beta", "alpha"] })).thenRejected("NameTaken")
    expect(rejection.reason).toContain("'alpha' already exists")
  })

  it("refuses resources above security.max_cpu_cores and max_memory_gb, naming both", () => {
    const rejection = given([]).when(f.launch({ resources: { cpu_cores: 16, memory_mb: 9 * 1024, pids: 64 } })).thenRejected("LimitsExceeded")
    expect(rejection).toMatchObject({ violations: [{ limit: "security.max_cpu_cores", requested: 16, max: 4 }, { limit: "security.max_memory_gb", requested: 9216, max: 8192 }] })
    given([]).when(f.launch({ resources: { cpu_cores: 4, memory_mb: 8192, pids: 64 } })).thenTypes(["SandboxRequested"])
  })

  it("refuses a template whose runner this host lacks, and open network unless allowed", () => {
    given([]).when(f.launch({ runners: ["qemu"] })).thenRejected("RunnerUnavailable")
    given([]).when(f.launch({ network: { mode: "open" } })).thenRejected("NetworkNotAllowed")
    given([]).when(f.launch({ network: { mode: "open" }, security: { ...f.security, allow_internet: true } })).thenTypes(["SandboxRequested"])
  })

  it("has no session end when the template sets no duration", () => {
    const { session_duration_hours: _, ...template } = f.template
    const decision = decide(f.launch({ template }), initialState())
    expect(Either.getOrThrow(decision)[0]).toMatchObject({ data: { expiresAt: null } })
  })
})

describe("Sandbox decider: exec", () => {
  it("starts a command in a running sandbox, then records its result", () => {
    given(f.given.running).when(f.exec()).then([f.commandStarted()])
    const [first] = Either.getOrThrow(decide(f.executed(), fold([...f.given.running, f.commandStarted()])))
    expect(first).toEqual({
      type: "CommandExecuted",
      data: { execId: "e1", argv: ["echo", "hi"], cwd: null, env: {}, exitCode: 0, signal: null, durationMs: 3, timedOut: false, oomKilled: false, stdout: { sha256: "0".repeat(64), bytes: 0, truncated: false }, stderr: { sha256: "0".repeat(64), bytes: 0, truncated: false } }
    })
  })

  it("records the result of a command the sandbox was stopped under, once", () => {
    const events = [...f.given.running, f.commandStarted(), f.stopped()]
    given(events).when(f.executed("e1", { exitCode: null, signal: "SIGKILL" })).thenTypes(["CommandExecuted"])
    const after = fold([...events, ...Either.getOrThrow(decide(f.executed(), fold(events)))])
    expect(decide(f.executed(), after)).toMatchObject(Either.left({ _tag: "UnknownExec" }))
  })

  it("refuses an empty argv, a non-positive timeout and a reused exec id", () => {
    given(f.given.running).when(f.exec("e1", { argv: [] })).thenRejected("InvalidCommand")
    given(f.given.running).when(f.exec("e1", { timeoutMs: 0 })).thenRejected("InvalidCommand")
    given([...f.given.running, f.commandStarted("e1")]).when(f.exec("e1")).thenRejected("InvalidCommand")
  })

  it("refuses commands once the session has ended", () => {
    given(f.given.running).when(f.exec("e1", { at: Date.parse("2026-03-01T13:00:00.000Z") })).thenRejected("SessionExpired")
  })

  it("adds ResourceLimitHit for an OOM kill and for a risen pids counter, not for unchanged counters", () => {
    const running = [...f.given.running, f.commandStarted()]
    given(running).when(f.executed("e1", { oomKilled: true, exitCode: null, signal: "SIGKILL", counters: { oomKills: 1, pidsLimitHits: 0 } })).thenTypes(["CommandExecuted", "ResourceLimitHit"])
    const both = Either.getOrThrow(decide(f.executed("e1", { counters: { oomKills: 2, pidsLimitHits: 3 } }), fold(running)))
    expect(both.slice(1)).toEqual([
      { type: "ResourceLimitHit", data: { kind: "memory", execId: "e1", count: 2, limit: 256 } },
      { type: "ResourceLimitHit", data: { kind: "pids", execId: "e1", count: 3, limit: 64 } }
    ])
    const seen = fold([...running, ...both, f.commandStarted("e2")])
    given([...running, ...both, f.commandStarted("e2")]).when(f.executed("e2", { counters: { oomKills: 2, pidsLimitHits: 3 } })).thenTypes(["CommandExecuted"])
    expect(seen).toMatchObject({ counters: { oomKills: 2, pidsLimitHits: 3 }, execCount: 1 })
  })

  it("records a command the runner could not run, and forgets it", () => {
    const events = [...f.given.running, f.commandStarted()]
    given(events).when({ _tag: "RecordExecFailed", execId: "e1", reason: "cgroup gone", at: f.AT }).then([{ type: "CommandFailed", data: { execId: "e1", reason: "cgroup gone" } }])
  })
})

describe("Sandbox evolve", () => {
  it("keeps the handle, counts commands and remembers why it stopped or failed", () => {
    const state = fold([...f.given.running, f.commandStarted(), ...Either.getOrThrow(decide(f.executed(), fold([...f.given.running, f.commandStarted()]))), f.stopped("operator")])
    expect(state).toMatchObject({ lifecycle: "stopped", handle: f.handle, execCount: 1, pending: {}, stopReason: "operator" })
    expect(fold(f.given.failed)).toMatchObject({ lifecycle: "failed", failure: "launch: bwrap: boom" })
  })

  it("forgets commands in flight when the sandbox is found dead", () => {
    const state = fold([...f.given.running, f.commandStarted(), { type: "SandboxFoundDead", data: { reason: "gone" } }])
    expect(state).toMatchObject({ lifecycle: "failed", pending: {}, failure: "found dead: gone" })
  })

  it("reads a redacted handle as no handle, and ignores events before the request", () => {
    const redacted = { $redacted: "a".repeat(64) }
    expect(fold([f.requested, { type: "SandboxProvisioned", data: { handle: redacted } }])).toMatchObject({ lifecycle: "provisioning", handle: null })
    expect(evolve(initialState(), f.started)).toEqual(initialState())
  })
})
