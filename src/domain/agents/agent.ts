// Agent identities as the operator registers them (`hydravisor agents add`): an id, the SHA-256 of
// its bearer token, an optional policy and expiry, and whether it was revoked. `admit` decides
// whether a matched identity may act now; matching a token to an identity is the adapter's job
// (it compares hashes in constant time).
import { Either, Schema } from "effect"
import { AgentId, type DenialReason } from "../events/agent-events.js"
import { Sha256Hex } from "../ledger/record.js"
import { PolicyName } from "../config/config.js"

export const RegisteredAgent = Schema.Struct({
  id: AgentId,
  tokenSha256: Sha256Hex,
  policy: Schema.NullOr(PolicyName),
  /** RFC 3339. */
  createdAt: Schema.String,
  createdBy: Schema.String,
  expiresAt: Schema.NullOr(Schema.String),
  revokedAt: Schema.NullOr(Schema.String)
})
export type RegisteredAgent = Schema.Schema.Type<typeof RegisteredAgent>

export const AgentRegistry = Schema.Struct({
  version: Schema.Literal(1),
  agents: Schema.Array(RegisteredAgent)
})
export type AgentRegistry = Schema.Schema.Type<typeof AgentRegistry>

export const emptyRegistry: AgentRegistry = { version: 1, agents: [] }

/** Who is calling, once admitted. */
export interface Agent {
  readonly id: string
  readonly policy: string | null
  readonly tokenSha256: string
}

export interface Denial {
  readonly reason: DenialReason
  readonly agentId: string | null
  readonly message: string
}

/** Whether the identity a token matched may act at `now`; `claimed` is the agent id the caller said it is. */
export const admit = (matched: RegisteredAgent | undefined, claimed: string | null, now: Date): Either.Either<Agent, Denial> => {
  if (matched === undefined) return Either.left({ reason: "unknown-token", agentId: claimed, message: "unknown bearer token" })
  if (matched.revokedAt !== null) return Either.left({ reason: "revoked-token", agentId: matched.id, message: `the token of agent '${matched.id}' was revoked` })
  if (matched.expiresAt !== null && Date.parse(matched.expiresAt) <= now.getTime())
    return Either.left({ reason: "expired-token", agentId: matched.id, message: `the token of agent '${matched.id}' expired at ${matched.expiresAt}` })
  if (claimed !== null && claimed !== matched.id)
    return Either.left({ reason: "agent-mismatch", agentId: claimed, message: `the token does not belong to agent '${claimed}'` })
  return Either.right({ id: matched.id, policy: matched.policy, tokenSha256: matched.tokenSha256 })
}

/** The registry with `agent` added; an id still holding a live token cannot be added again. */
export const register = (registry: AgentRegistry, agent: RegisteredAgent): Either.Either<AgentRegistry, string> => {
  const existing = registry.agents.find((a) => a.id === agent.id)
  if (existing !== undefined && existing.revokedAt === null)
    return Either.left(`agent '${agent.id}' already has a token; revoke it first (hydravisor agents revoke ${agent.id})`)
  return Either.right({ ...registry, agents: [...registry.agents.filter((a) => a.id !== agent.id), agent] })
}

export const revoke = (registry: AgentRegistry, agentId: string, at: string): Either.Either<AgentRegistry, string> => {
  const existing = registry.agents.find((a) => a.id === agentId)
  if (existing === undefined) return Either.left(`no agent '${agentId}'`)
  if (existing.revokedAt !== null) return Either.left(`the token of agent '${agentId}' was already revoked at ${existing.revokedAt}`)
  return Either.right({ ...registry, agents: registry.agents.map((a) => (a.id === agentId ? { ...a, revokedAt: at } : a)) })
}
