// Properties of the Sandbox decider over arbitrary command sequences: no event ever comes from a state
// that does not allow it, each accepted command lands where it says, refusals change nothing, and the
// events are valid JSON payloads of their own Schemas.
import { Either, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { eventDefinition } from "../../../src/domain/events/catalogue.js"
import type { SandboxCommand } from "../../../src/domain/sandbox/sandbox-commands.js"
import type { SandboxEvent } from "../../../src/domain/sandbox/sandbox-events.js"
import { allowedFrom, decide, evolve, fold, initialState, type Lifecycle, type SandboxState } from "../../../src/domain/sandbox/sandbox.js"
import { commands } from "./arbitraries.js"

/** Where an accepted command leaves the sandbox; null: where it was. */
const target: Record<SandboxCommand["_tag"], Lifecycle | null> = {
  Launch: "requested",
  RecordProvisioned: "provisioning",
  RecordStarted: "running",
  Exec: null,
  RecordExecuted: null,
  RecordExecFailed: null,
  Pause: "paused",
  Resume: "running",
  Stop: "stopped",
  Destroy: "destroyed",
  MarkDead: "failed",
  RecordFailed: "failed"
}

const pendingOf = (state: SandboxState) => (state.lifecycle === "initial" ? {} : state.pending)

const roundTrips = (event: SandboxEvent) => {
  const definition = eventDefinition(event.type)!
  const json: unknown = JSON.parse(JSON.stringify(event.data))
  expect(Schema.decodeUnknownSync(definition.schema as Schema.Schema<unknown, unknown>, { onExcessProperty: "error" })(json)).toEqual(event.data)
}

describe("Sandbox decider properties", () => {
  it("never yields an event from a state that does not allow it, and evolve∘decide lands where the command says", () => {
    fc.assert(
      fc.property(commands, (sequence) => {
        let state = initialState()
        const log: Array<SandboxEvent> = []
        for (const command of sequence) {
          const decision = decide(command, state)
          expect(decide(command, state)).toEqual(decision)
          if (Either.isLeft(decision)) continue
          let next = state
          for (const event of decision.right) {
            expect(allowedFrom[event.type]).toContain(next.lifecycle)
            if (event.type === "CommandExecuted" || event.type === "CommandFailed") expect(pendingOf(next)).toHaveProperty([event.data.execId])
            roundTrips(event)
            next = evolve(next, event)
          }
          log.push(...decision.right)
          const expected = target[command._tag]
          expect(next.lifecycle).toBe(expected ?? state.lifecycle)
          if (command._tag === "Exec") expect(pendingOf(next)).toHaveProperty([command.execId])
          if (command._tag === "RecordExecuted" || command._tag === "RecordExecFailed") expect(pendingOf(next)).not.toHaveProperty([command.execId])
          if (command._tag === "RecordExecuted" && state.lifecycle !== "initial" && next.lifecycle !== "initial") expect(next.execCount).toBe(state.execCount + 1)
          state = next
        }
        expect(fold(log)).toEqual(state)
      }),
      { numRuns: 500 }
    )
  })

  it("accepts nothing after destroy but the results of commands still in flight", () => {
    fc.assert(
      fc.property(commands, (sequence) => {
        let state = initialState()
        for (const command of sequence) {
          const decision = decide(command, state)
          if (state.lifecycle === "destroyed" && Either.isRight(decision)) {
            expect(["RecordExecuted", "RecordExecFailed"]).toContain(command._tag)
          }
          if (Either.isRight(decision)) state = decision.right.reduce(evolve, state)
        }
      }),
      { numRuns: 300 }
    )
  })
})
