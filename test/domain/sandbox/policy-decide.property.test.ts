// The decider under a policy: for random policies, command lines and launch requests, `decide` never
// lets through what the policy's checks deny — a command the command rules refuse is never started,
// and a launch never gets more than the policy grants.
import { Either } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { checkCommand } from "../../../src/domain/policy/check-command.js"
import { checkLaunch } from "../../../src/domain/policy/check-launch.js"
import { emptyPolicyState } from "../../../src/domain/policy/policy-state.js"
import { resolveDocument } from "../../../src/domain/policy/resolve.js"
import { decide, evolve, initialState, type SandboxState } from "../../../src/domain/sandbox/sandbox.js"
import * as arb from "../../arbitraries/policy.js"
import { resources } from "../../arbitraries/config.js"
import { exec, handle, launch, template } from "./fixtures.js"

const effective = arb.policyDocument().map((document) => Either.getOrThrow(resolveDocument(document, emptyPolicyState)))

const running = (): SandboxState => {
  let state = initialState()
  for (const command of [launch(), { _tag: "RecordProvisioned" as const, handle, at: 1 }, { _tag: "RecordStarted" as const, handle, at: 2 }]) {
    const events = Either.getOrThrow(decide(command, state))
    state = events.reduce(evolve, state)
  }
  return state
}

describe("decide under a policy", () => {
  it("never starts a command the policy's command rules refuse, and starts every one they allow", () => {
    const state = running()
    fc.assert(
      fc.property(effective, arb.commandCase, (policy, command) => {
        const decision = decide(exec("e1", { argv: command.argv, effectivePolicy: policy }), state)
        const allowed = checkCommand(policy, command.argv)
        if (Either.isLeft(allowed)) {
          expect(Either.isLeft(decision)).toBe(true)
          if (Either.isLeft(decision)) expect(decision.left._tag).toBe("PolicyRefused")
        } else if (command.argv.length > 0) {
          expect(Either.isRight(decision)).toBe(true)
        }
      }),
      { numRuns: 400 }
    )
  })

  it("never grants a launch more than the policy allows: resources and network are the policy's narrowing", () => {
    fc.assert(
      fc.property(effective, resources, arb.requestedNetwork, (policy, requested, network) => {
        const decision = decide(launch({ resources: requested, network, effectivePolicy: policy }), initialState())
        const grant = checkLaunch(policy, { resources: requested, network, runner: template.runner, ...(template.session_duration_hours !== undefined ? { sessionDurationHours: template.session_duration_hours } : {}) })
        if (Either.isLeft(grant)) {
          expect(Either.isLeft(decision)).toBe(true)
          return
        }
        if (Either.isLeft(decision)) return // refused for another reason (operator maxima, open network): nothing granted
        const data = decision.right[0]!.data as { resources: unknown; network: unknown; policyHash: string }
        expect(data.resources).toEqual(grant.right.resources)
        expect(data.network).toEqual(grant.right.network)
        expect(data.policyHash).toBe(policy.contentHash)
      }),
      { numRuns: 300 }
    )
  })
})
