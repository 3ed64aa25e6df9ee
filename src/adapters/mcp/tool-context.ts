// What every tool needs: who calls, the call being recorded, the two ways a tool says no, and the
// lookup that only ever finds the caller's own environments. Another agent's environment is
// answered exactly like one that does not exist; the ledger still gets the truth (AccessDenied).
import { Data, Effect } from "effect"
import type { Agent } from "../../domain/agents/agent.js"
import { AccessDenied, type McpTransport } from "../../domain/events/agent-events.js"
import { hostStream } from "../../domain/events/command-rejected.js"
import type { Actor } from "../../domain/ledger/record.js"
import { isSandboxRejection } from "../../domain/sandbox/rejections.js"
import { listSandboxes, type SandboxView } from "../../projections/sandboxes.js"
import type { SandboxServiceShape } from "../sandbox/sandbox-service.js"

/** The call was not allowed, or asked for something that is not there (outcome `refused`). */
export class ToolRefused extends Data.TaggedError("ToolRefused")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

/** The call was allowed but the operation failed (outcome `failed`). */
export class ToolFailed extends Data.TaggedError("ToolFailed")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

export type ToolError = ToolRefused | ToolFailed

/** A record to append together with the call's ToolCalled (same batch, same correlation). */
export interface AlongsideEvent {
  readonly stream: string
  readonly type: string
  readonly data: Readonly<Record<string, unknown>>
  readonly sensitive: ReadonlyArray<string>
  readonly actor: Actor
}

/** One tools/call (or resources/read) from arrival to its ToolCalled record. */
export interface CallState {
  readonly callId: string
  readonly tool: string
  readonly arguments: unknown
  readonly startedAt: number
  /** Set once the call resolved an environment of the caller's. */
  sandboxId: string | null
  /** The SDK handed the call to our handler (otherwise it refused it itself, e.g. params of the wrong shape). */
  handled: boolean
  /** Its ToolCalled is already in the ledger, appended by the tool together with its own last records. */
  recorded: boolean
  readonly alongside: Array<AlongsideEvent>
}

export interface Caller {
  readonly agent: Agent
  readonly transport: McpTransport
  readonly session: string | null
  readonly remote: string | null
}

export interface ToolContext {
  readonly caller: Caller
  readonly call: CallState
  /** The model the client declared when it connected (see policy-gate.ts), if any. */
  readonly model: string | null
}

export const agentActor = (agent: Agent): Actor => ({ kind: "agent", id: agent.id })

export const ownedBy = (view: SandboxView, agentId: string): boolean => (view.owner.kind === "agent" && view.owner.id === agentId) || view.agent === agentId

/** A failure of the sandbox service as the agent sees it. */
export const fromServiceError = (error: { readonly _tag: string; readonly message: string }): ToolError =>
  isSandboxRejection(error) ? new ToolRefused({ reason: error.message }) : new ToolFailed({ reason: error.message })

export const noSuchEnvironment = (ref: string) => new ToolRefused({ reason: `no environment '${ref}' (list_environments shows yours)` })

/**
 * The caller's environment named `ref` (id or name). Released ones are found by id only, and only
 * when `released` is allowed. Someone else's is refused like a missing one, and recorded.
 */
export const findOwn = (service: SandboxServiceShape, writerId: string, ctx: ToolContext, ref: string, options: { readonly released?: boolean } = {}) =>
  Effect.gen(function* () {
    const all = listSandboxes(yield* service.model, { includeDestroyed: true })
    const agentId = ctx.caller.agent.id
    const visible = (v: SandboxView) => v.state !== "destroyed" || options.released === true
    const own = all.filter((v) => ownedBy(v, agentId) && visible(v))
    const found = own.find((v) => v.id === ref) ?? own.find((v) => v.name === ref && v.state !== "destroyed")
    if (found !== undefined) {
      ctx.call.sandboxId = found.id
      return found
    }
    const foreign = all.find((v) => !ownedBy(v, agentId) && (v.id === ref || (v.name === ref && v.state !== "destroyed")))
    if (foreign !== undefined)
      ctx.call.alongside.push({
        stream: hostStream(writerId),
        type: AccessDenied.type,
        data: { transport: ctx.caller.transport, reason: "not-owner", agentId, tool: ctx.call.tool, sandboxId: foreign.id, remote: ctx.caller.remote },
        sensitive: AccessDenied.sensitive,
        actor: agentActor(ctx.caller.agent)
      })
    return yield* noSuchEnvironment(ref)
  })

export const ownEnvironments = (service: SandboxServiceShape, agentId: string, includeReleased: boolean) =>
  Effect.map(service.model, (model) => listSandboxes(model, { includeDestroyed: includeReleased }).filter((v) => ownedBy(v, agentId)))
