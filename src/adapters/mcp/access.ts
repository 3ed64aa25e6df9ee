// Who may call: bearer tokens checked against the agent registry on every request (and again on
// every call of a long-lived connection, so a revocation takes effect at once). Each refusal is an
// AccessDenied record without the token. What the registry says is also brought into the ledger
// (AgentRegistered, AgentTokenRevoked) whenever the daemon sees it change.
import { Effect, Either, Stream } from "effect"
import type { Agent, Denial, RegisteredAgent } from "../../domain/agents/agent.js"
import { AccessDenied, AgentRegistered, AgentTokenRevoked, agentStream, type McpTransport } from "../../domain/events/agent-events.js"
import { hostStream } from "../../domain/events/command-rejected.js"
import type { Actor } from "../../domain/ledger/record.js"
import { fingerprintOf, makeAuthenticator, type AdHocAgent } from "../agents/agent-registry.js"
import type { LedgerShape } from "../ledger/ledger.js"
import type { EventStoreShape } from "../store/event-store.js"
import { agentActor, ToolRefused, type Caller, type CallState } from "./tool-context.js"

export interface Where {
  readonly transport: McpTransport
  readonly remote: string | null
}

export interface Access {
  /** The agent holding `token`, or the denial (already recorded). */
  readonly authenticate: (token: string | undefined, claimed: string | null, where: Where) => Effect.Effect<Agent, Denial>
  /**
   * The agent holding `token` when that can be told at once, without running an Effect: the registry
   * is unchanged since its last sync and admits the token. Otherwise null, and `authenticate` decides
   * (syncing the registry, recording a denial). Every HTTP request is authenticated; most go this way.
   */
  readonly admitNow: (token: string | undefined, claimed: string | null) => Agent | null
  /** Fails a call whose agent's token has since been revoked or has expired; the denial goes with its ToolCalled. */
  readonly recheck: (caller: Caller, call: CallState) => Effect.Effect<void, ToolRefused>
  /** Records a refusal that happened outside authentication (a session of another agent). */
  readonly deny: (denial: Denial, where: Where, details?: { readonly tool?: string; readonly sandboxId?: string; readonly authenticated?: boolean }) => Effect.Effect<void>
}

const GATEWAY: Actor = { kind: "system", id: "mcp" }

export interface AccessOptions {
  readonly dataDir: string
  readonly adHoc: AdHocAgent | null
  readonly ledger: LedgerShape
  readonly store: EventStoreShape
  readonly log: (line: string) => void
}

const keyOf = (agentId: string, fingerprint: string) => `${agentId}:${fingerprint}`

/** Registrations and revocations already in the ledger. */
const recordedRegistry = (store: EventStoreShape) =>
  Effect.gen(function* () {
    const registered = new Set<string>()
    const revoked = new Set<string>()
    yield* Stream.runForEach(store.readAllRaw(), (rows) =>
      Effect.sync(() => {
        for (const row of rows) {
          const isRegistered = row.body.includes(`"type":"${AgentRegistered.type}"`)
          if (!isRegistered && !row.body.includes(`"type":"${AgentTokenRevoked.type}"`)) continue
          const data = (JSON.parse(row.body) as { data?: { agentId?: string; tokenFingerprint?: string } }).data
          if (data?.agentId === undefined || data.tokenFingerprint === undefined) continue
          ;(isRegistered ? registered : revoked).add(keyOf(data.agentId, data.tokenFingerprint))
        }
      })
    )
    return { registered, revoked }
  })

export const makeAccess = (options: AccessOptions) =>
  Effect.gen(function* () {
    const { ledger } = options
    const startedAt = new Date()
    const authenticator = makeAuthenticator(options.dataDir, options.adHoc, startedAt)
    const recorded = yield* recordedRegistry(options.store)
    const syncing = yield* Effect.makeSemaphore(1)
    let synced: ReadonlyArray<RegisteredAgent> | null = null

    // Unchanged since the last sync (nearly every request): nothing to take the semaphore for. Taking
    // it suspends the request's fiber, so other fibers' work would run in the middle of each request.
    const bringIntoLedger = (agents: ReadonlyArray<RegisteredAgent>) =>
      agents === synced ? Effect.void : syncing.withPermits(1)(
        Effect.gen(function* () {
          if (agents === synced) return
          for (const agent of agents) {
            const fingerprint = fingerprintOf(agent.tokenSha256)
            const key = keyOf(agent.id, fingerprint)
            const operator: Actor = { kind: "operator", id: agent.createdBy }
            if (!recorded.registered.has(key)) {
              const source = options.adHoc !== null && agent.id === options.adHoc.id && agent.createdAt === startedAt.toISOString() ? "ad-hoc" : "registry"
              const data = { agentId: agent.id, tokenFingerprint: fingerprint, policy: agent.policy, expiresAt: agent.expiresAt, issuedAt: agent.createdAt, source }
              yield* ledger.append(agentStream(agent.id), [{ type: AgentRegistered.type, data, sensitive: AgentRegistered.sensitive }], { actor: operator })
              recorded.registered.add(key)
            }
            if (agent.revokedAt !== null && !recorded.revoked.has(key)) {
              const data = { agentId: agent.id, tokenFingerprint: fingerprint, revokedAt: agent.revokedAt }
              yield* ledger.append(agentStream(agent.id), [{ type: AgentTokenRevoked.type, data, sensitive: AgentTokenRevoked.sensitive }], { actor: operator })
              recorded.revoked.add(key)
            }
          }
          synced = agents
        })
      ).pipe(Effect.catchAll((e) => Effect.sync(() => options.log(`could not record the agent registry in the ledger: ${e.message}`))))

    const syncRegistry = Effect.suspend(() => {
      const current = authenticator.current()
      return Either.isRight(current) ? bringIntoLedger(current.right) : Effect.void
    })

    const deny: Access["deny"] = (denial, where, details = {}) =>
      ledger
        .append(
          hostStream(ledger.writerId),
          [
            {
              type: AccessDenied.type,
              data: { transport: where.transport, reason: denial.reason, agentId: denial.agentId, tool: details.tool ?? null, sandboxId: details.sandboxId ?? null, remote: where.remote },
              sensitive: AccessDenied.sensitive
            }
          ],
          // Only an authenticated agent acts as itself; a refused caller is whoever the gateway saw.
          { actor: details.authenticated === true && denial.agentId !== null ? { kind: "agent", id: denial.agentId } : GATEWAY }
        )
        .pipe(Effect.catchAll((e) => Effect.sync(() => options.log(`could not record a refused request: ${e.message}`))))

    const authenticate: Access["authenticate"] = (token, claimed, where) =>
      Effect.gen(function* () {
        yield* syncRegistry
        const decided = authenticator.authenticate(token, claimed)
        if (Either.isRight(decided)) return decided.right
        yield* deny(decided.left, where)
        return yield* Effect.fail(decided.left)
      })

    const recheck: Access["recheck"] = (caller, call) =>
      Effect.gen(function* () {
        yield* syncRegistry
        const decided = authenticator.recheck(caller.agent)
        if (Either.isRight(decided)) return
        const denial = decided.left
        call.alongside.push({
          stream: hostStream(ledger.writerId),
          type: AccessDenied.type,
          data: { transport: caller.transport, reason: denial.reason, agentId: caller.agent.id, tool: call.tool, sandboxId: null, remote: caller.remote },
          sensitive: AccessDenied.sensitive,
          actor: agentActor(caller.agent)
        })
        return yield* new ToolRefused({ reason: `access denied: ${denial.message}` })
      })

    const admitNow: Access["admitNow"] = (token, claimed) => {
      const current = authenticator.current()
      if (Either.isLeft(current) || current.right !== synced) return null
      return Either.getOrNull(authenticator.authenticateAmong(current.right, token, claimed))
    }

    yield* syncRegistry
    const access: Access = { authenticate, admitNow, recheck, deny }
    return access
  })
