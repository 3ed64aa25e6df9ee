// What an agent may do through MCP, by its policy: the one bound to it (`agents add --policy`), else
// `security.default_policy`, checked against the ledger at every call so an applied version takes
// effect at once (the resolved policy is kept only while its streams are unchanged: policy-lookup.ts).
// A refusal names the policy and its rule, and is recorded as AccessDenied (policy-denied).
import { Effect, Either } from "effect"
import type { ClientCapabilities } from "@modelcontextprotocol/sdk/types.js"
import { AccessDenied } from "../../domain/events/agent-events.js"
import { hostStream } from "../../domain/events/command-rejected.js"
import { checkAccess, type AccessDecision, type SandboxOwnership } from "../../domain/policy/check-access.js"
import type { Capability } from "../../domain/policy/policy-document.js"
import type { EffectivePolicy } from "../../domain/policy/resolve.js"
import type { SandboxView } from "../../projections/sandboxes.js"
import { cachedPolicyLookup } from "../enforcement/policy-lookup.js"
import type { ToolDeps } from "./tool-deps.js"
import { agentActor, ToolFailed, ToolRefused, type ToolContext } from "./tool-context.js"

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$/

/**
 * The model a client says it runs, from `capabilities.experimental.hydravisor.model` of its
 * initialize request (client info has no field for it); null when it names none or an odd one.
 */
export const declaredModel = (capabilities: ClientCapabilities | undefined): string | null => {
  const model = (capabilities?.experimental?.["hydravisor"] as Record<string, unknown> | undefined)?.["model"]
  return typeof model === "string" && MODEL_NAME.test(model) ? model : null
}

/**
 * The decision for `agent:<id>`, with its declared model's override (`access.overrides."model:<m>"`)
 * taking precedence over the agent's role. The model is the client's own claim, so its override can
 * only take a capability away: an agent could otherwise claim any model to gain one.
 */
export const agentAccess = (policy: EffectivePolicy, agentId: string, model: string | null, capability: Capability, sandbox: SandboxOwnership | null): AccessDecision => {
  const asAgent = checkAccess(policy, { kind: "agent", id: agentId }, capability, sandbox)
  const decidedForTheAgent = asAgent.rule.startsWith("access.agents.") || asAgent.rule.startsWith(`access.overrides."agent:`)
  if (model === null || decidedForTheAgent || policy.access.overrides[`model:${model}`]?.[capability] !== false) return asAgent
  return checkAccess(policy, { kind: "model", id: model }, capability, sandbox)
}

export const agentPolicyName = (deps: ToolDeps, ctx: ToolContext): string => ctx.caller.agent.policy ?? deps.config.security.default_policy

export const makePolicyGate = (deps: ToolDeps) => {
  const lookupPolicy = cachedPolicyLookup(deps.store)
  const refuse = (ctx: ToolContext, sandbox: SandboxView | null, policy: string, rule: string, reason: string) =>
    Effect.suspend(() => {
      ctx.call.alongside.push({
        stream: hostStream(deps.ledger.writerId),
        type: AccessDenied.type,
        data: {
          transport: ctx.caller.transport,
          reason: "policy-denied",
          agentId: ctx.caller.agent.id,
          tool: ctx.call.tool,
          sandboxId: sandbox?.id ?? null,
          remote: ctx.caller.remote,
          policy,
          rule
        },
        sensitive: AccessDenied.sensitive,
        actor: agentActor(ctx.caller.agent)
      })
      return Effect.fail(new ToolRefused({ reason: `access denied by policy ${policy}: ${rule}: ${reason}` }))
    })

  /** Fails the call unless the agent's policy grants `capability` (on `sandbox`, when the call is about one). */
  const require = (ctx: ToolContext, capability: Capability, sandbox: SandboxView | null) =>
    Effect.gen(function* () {
      const name = agentPolicyName(deps, ctx)
      const resolved = yield* lookupPolicy(name).pipe(Effect.mapError((e) => new ToolFailed({ reason: `cannot read policy ${name} from the ledger: ${e.message}` })))
      if (Either.isLeft(resolved)) return yield* refuse(ctx, sandbox, name, "policy", `${resolved.left.message}; nothing is allowed under a policy that cannot be resolved`)
      const ownership = sandbox === null ? null : { owner: sandbox.owner, agent: sandbox.agent, team: null }
      const decision = agentAccess(resolved.right, ctx.caller.agent.id, ctx.model, capability, ownership)
      if (!decision.allowed) return yield* refuse(ctx, sandbox, name, decision.rule, decision.reason)
    })

  return { require }
}

export type PolicyGate = ReturnType<typeof makePolicyGate>
