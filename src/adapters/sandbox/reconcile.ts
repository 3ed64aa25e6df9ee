// After a daemon restart, the ledger's live sandboxes are checked against their runner: found alive
// (their monitors start again), found dead (recorded), launches the daemon never finished (recorded as
// failed), or not checkable now (left as they are, reported).
import { Effect, Either } from "effect"
import type { Actor } from "../../domain/ledger/record.js"
import { isSandboxRejection, type SandboxRejection } from "../../domain/sandbox/rejections.js"
import type { SandboxCommand } from "../../domain/sandbox/sandbox-commands.js"
import type { Sandbox, SandboxState } from "../../domain/sandbox/sandbox.js"
import type { SandboxView } from "../../projections/sandboxes.js"
import type { Runner, SandboxHandle } from "../../runners/runner.js"
import type { LedgerError } from "../ledger/ledger.js"
import type { WrongExpectedRevision } from "../store/event-store.js"
import { meansGone } from "./mapping.js"
import type { SandboxHooksShape } from "./sandbox-hooks.js"
import type { ReconcileReport } from "./service-contract.js"

/** What reconciling needs of the sandbox service. */
export interface ReconcileSteps {
  readonly runner: Runner
  readonly hooks: SandboxHooksShape
  /** The sandboxes the ledger holds as requested, provisioning, running or paused. */
  readonly live: Effect.Effect<ReadonlyArray<SandboxView>>
  /** `body` with the sandbox's own lock held. */
  readonly serialized: (sandboxId: string) => <A, E>(body: Effect.Effect<A, E>) => Effect.Effect<A, E>
  readonly stateOf: (sandboxId: string) => Effect.Effect<SandboxState>
  readonly viewOf: (sandboxId: string) => Effect.Effect<SandboxView>
  readonly handleOf: (sandbox: Sandbox) => SandboxHandle | null
  /** Decides and records a command about the sandbox, as the service records every command. */
  readonly record: (sandboxId: string, command: (at: number) => SandboxCommand, actor: Actor) => Effect.Effect<unknown, SandboxRejection | LedgerError | WrongExpectedRevision>
}

export const reconcileSandboxes = (steps: ReconcileSteps, actor: Actor) =>
  Effect.gen(function* () {
    const alive: Array<string> = []
    const dead: Array<{ id: string; name: string; reason: string }> = []
    const interrupted: Array<string> = []
    const unknown: Array<{ id: string; reason: string }> = []
    for (const view of yield* steps.live) {
      yield* steps.serialized(view.id)(
        Effect.gen(function* () {
          const state = yield* steps.stateOf(view.id)
          if (state.lifecycle === "requested" || state.lifecycle === "provisioning") {
            yield* steps.record(view.id, (at) => ({ _tag: "RecordFailed", operation: "launch", reason: "the daemon stopped before the launch finished", at }), actor)
            interrupted.push(view.id)
            return
          }
          if (state.lifecycle !== "running" && state.lifecycle !== "paused") return
          const handle = steps.handleOf(state)
          let reason: string
          if (handle === null) reason = "the ledger holds no usable runner handle"
          else {
            const status = yield* Effect.either(steps.runner.status(handle))
            if (Either.isLeft(status)) {
              if (!meansGone(status.left)) {
                unknown.push({ id: view.id, reason: status.left.message })
                return
              }
              reason = status.left.message
            } else if (status.right.state === "running" || status.right.state === "paused") {
              alive.push(view.id)
              yield* steps.hooks.running(yield* steps.viewOf(view.id), handle, { restarted: true })
              return
            } else reason = `the ${steps.runner.kind} runner reports it ${status.right.state} (the ledger had it ${state.lifecycle})`
          }
          yield* steps.record(view.id, (at) => ({ _tag: "MarkDead", reason, at }), actor)
          yield* steps.hooks.ended(view.id, reason)
          dead.push({ id: view.id, name: view.name, reason })
          // A refusal here (the sandbox moved on meanwhile) is already recorded; nothing more to do.
        }).pipe(Effect.catchIf(isSandboxRejection, () => Effect.void))
      )
    }
    return { alive, dead, interrupted, unknown } satisfies ReconcileReport
  })
