// Who may do what to which sandbox. Resolution, first answer wins: the agent's own rules
// (`access.agents.<id>`), then the identity's override (`access.overrides."model:llama3"`), then its
// role (`access.assign`), then deny. An allow also has a scope: `own` sandboxes or `any`.
import type { Capability, IdentityKind, Role, Scope } from "./policy-document.js"
import type { EffectivePolicy } from "./resolve.js"

export interface Identity {
  readonly kind: IdentityKind
  readonly id: string
}

/** Who a sandbox belongs to: who launched it, the agent it is for, and its team. */
export interface SandboxOwnership {
  readonly owner: { readonly kind: string; readonly id: string }
  readonly agent: string | null
  readonly team: string | null
}

export interface AccessDecision {
  readonly allowed: boolean
  /** The policy key that decided (`access.roles.sandboxed.can_share`, `access.default-deny`). */
  readonly rule: string
  readonly reason: string
}

export const identityKey = (identity: Identity): string => `${identity.kind}:${identity.id}`

export const owns = (identity: Identity, sandbox: SandboxOwnership): boolean =>
  (sandbox.owner.kind === identity.kind && sandbox.owner.id === identity.id) ||
  (identity.kind === "agent" && sandbox.agent === identity.id) ||
  (identity.kind === "team" && sandbox.team === identity.id)

/** The role an identity has: its agent rule's, else its own assignment, else its kind's. */
export const roleOf = (policy: EffectivePolicy, identity: Identity): { readonly name: string; readonly rule: string } | undefined => {
  const { agents, assign } = policy.access
  const agentRole = identity.kind === "agent" ? agents[identity.id]?.role : undefined
  if (agentRole !== undefined) return { name: agentRole, rule: `access.agents.${identity.id}.role` }
  const own = assign[identityKey(identity)]
  if (own !== undefined) return { name: own, rule: `access.assign."${identityKey(identity)}"` }
  const kind = assign[`${identity.kind}:*`]
  return kind === undefined ? undefined : { name: kind, rule: `access.assign."${identity.kind}:*"` }
}

export const checkAccess = (
  policy: EffectivePolicy,
  identity: Identity,
  capability: Capability,
  sandbox: SandboxOwnership | null
): AccessDecision => {
  const who = identityKey(identity)
  const role = roleOf(policy, identity)
  const roleDefinition: Role | undefined = role === undefined ? undefined : policy.access.roles[role.name]

  const scoped = (rule: string, scope: Scope | undefined, source: string): AccessDecision => {
    const effective = scope ?? roleDefinition?.scope ?? "own"
    if (sandbox === null || effective === "any" || owns(identity, sandbox)) {
      return { allowed: true, rule, reason: `${who} may ${capability} (${source}${sandbox === null ? "" : `, scope ${effective}`})` }
    }
    return {
      allowed: false,
      rule,
      reason: `${who} may ${capability} only on its own sandboxes (${source}); this one belongs to ${sandbox.owner.kind}:${sandbox.owner.id}${sandbox.agent === null ? "" : ` for agent:${sandbox.agent}`}`
    }
  }

  const agentRule = identity.kind === "agent" ? policy.access.agents[identity.id] : undefined
  const agentFlag = agentRule?.[capability]
  if (agentRule !== undefined && agentFlag !== undefined) {
    const rule = `access.agents.${identity.id}.${capability}`
    return agentFlag ? scoped(rule, agentRule.scope, "agent rule") : { allowed: false, rule, reason: `${who} is denied ${capability} by its agent rule` }
  }

  const override = policy.access.overrides[who]
  const overrideFlag = override?.[capability]
  if (override !== undefined && overrideFlag !== undefined) {
    const rule = `access.overrides."${who}".${capability}`
    return overrideFlag ? scoped(rule, override.scope, "override") : { allowed: false, rule, reason: `${who} is denied ${capability} by an override` }
  }

  if (role === undefined) {
    return { allowed: false, rule: "access.default-deny", reason: `${who} has no role in policy ${policy.name} (deny by default)` }
  }
  if (roleDefinition === undefined) {
    return { allowed: false, rule: role.rule, reason: `${who} has role '${role.name}', which policy ${policy.name} does not define (deny by default)` }
  }
  const rule = `access.roles.${role.name}.${capability}`
  return roleDefinition[capability] === true
    ? scoped(rule, roleDefinition.scope, `role ${role.name}`)
    : { allowed: false, rule, reason: `role ${role.name} (of ${who}) does not grant ${capability}` }
}
