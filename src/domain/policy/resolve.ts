// Resolving a policy name to the policy a sandbox gets: the document (applied, else built-in), merged
// over its `extends` chain, with every unset key filled by deny-by-default. The result carries the
// content hash of what is enforced, which PolicyViolated records cite.
import { Data, Either } from "effect"
import type { NetworkMode } from "../sandbox/template.js"
import type { AllowlistEntry, RunnerKind } from "../sandbox/template.js"
import { builtinPolicies, builtinRoles, defaultViolations } from "./builtins.js"
import type {
  AgentRule, IdentityOverride, PolicyDocument, ResourceLimits, ResourceQuotas, Role, RuleKind, Severity, ViolationAction
} from "./policy-document.js"
import { contentHashOf, type PolicyState } from "./policy-state.js"

export interface EffectivePolicy {
  readonly name: string
  readonly origin: "builtin" | "applied"
  /** The applied version; null for a built-in. */
  readonly version: number | null
  /** SHA-256 of the merged document's canonical JSON: what is enforced. */
  readonly contentHash: string
  /** The policy, then what it extends, to the root. */
  readonly chain: ReadonlyArray<string>
  /** The merged document (no `extends`). */
  readonly document: PolicyDocument
  readonly limits: ResourceLimits
  readonly quotas: ResourceQuotas
  /** Runners allowed; null: any. */
  readonly runners: ReadonlyArray<RunnerKind> | null
  readonly access: {
    readonly roles: Readonly<Record<string, Role>>
    readonly assign: Readonly<Record<string, string>>
    readonly agents: Readonly<Record<string, AgentRule>>
    readonly overrides: Readonly<Record<string, IdentityOverride>>
    readonly sudo: boolean
    readonly linuxCapabilities: ReadonlyArray<string>
  }
  readonly network: {
    readonly mode: NetworkMode
    readonly allowlist: ReadonlyArray<AllowlistEntry>
    readonly dnsFilter: boolean
    readonly dnsBlocked: ReadonlyArray<string>
  }
  readonly commands: {
    readonly blocked: ReadonlyArray<string>
    readonly blockedPatterns: ReadonlyArray<string>
    readonly restrictedShell: boolean
  }
  readonly violations: Readonly<Record<RuleKind, { readonly severity: Severity; readonly action: ViolationAction }>>
}

export class UnknownPolicy extends Data.TaggedError("UnknownPolicy")<{
  readonly name: string
  /** Set when the unknown name was reached through `extends`. */
  readonly via: ReadonlyArray<string>
  readonly available: ReadonlyArray<string>
}> {
  override get message() {
    const through = this.via.length === 0 ? "" : ` (extended by ${this.via.join(" ← ")})`
    return `unknown policy '${this.name}'${through}; known: ${this.available.join(", ")}`
  }
}

export class PolicyCycle extends Data.TaggedError("PolicyCycle")<{ readonly chain: ReadonlyArray<string> }> {
  override get message() {
    return `policy 'extends' forms a cycle: ${this.chain.join(" → ")}`
  }
}

export type UnresolvablePolicy = UnknownPolicy | PolicyCycle

/** The document a name stands for: the applied one, else the built-in. */
export const lookupDocument = (name: string, applied: PolicyState): PolicyDocument | undefined =>
  applied[name]?.current.document ?? builtinPolicies.get(name)

export const knownPolicyNames = (applied: PolicyState): ReadonlyArray<string> =>
  [...new Set([...builtinPolicies.keys(), ...Object.keys(applied)])].sort()

/** The documents from `name` to its root, refusing unknown names and cycles. */
export const extendsChain = (
  name: string,
  applied: PolicyState,
  start?: PolicyDocument
): Either.Either<ReadonlyArray<PolicyDocument>, UnresolvablePolicy> => {
  const chain: Array<PolicyDocument> = []
  let document = start ?? lookupDocument(name, applied)
  while (true) {
    if (document === undefined) {
      const missing = chain.length === 0 ? name : (chain[chain.length - 1]?.extends ?? name)
      return Either.left(new UnknownPolicy({ name: missing, via: chain.map((d) => d.name), available: knownPolicyNames(applied) }))
    }
    const current: PolicyDocument = document
    if (chain.some((d) => d.name === current.name)) {
      return Either.left(new PolicyCycle({ chain: [...chain.map((d) => d.name), current.name] }))
    }
    chain.push(current)
    if (current.extends === undefined) return Either.right(chain)
    document = lookupDocument(current.extends, applied)
  }
}

type Json = unknown
const isMapping = (value: Json): value is Record<string, Json> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Child over parent: mappings merge key by key, anything else (lists included) is replaced. */
const mergeJson = (parent: Json, child: Json): Json => {
  if (!isMapping(parent) || !isMapping(child)) return child
  const out: Record<string, Json> = { ...parent }
  for (const [key, value] of Object.entries(child)) out[key] = key in parent ? mergeJson(parent[key], value) : value
  return out
}

/** Merges a document over its parent. A child that sets a network mode other than allowlist drops the parent's entries. */
export const mergeDocuments = (parent: PolicyDocument, child: PolicyDocument): PolicyDocument => {
  const merged = mergeJson(parent, child) as PolicyDocument
  const network = merged.network
  const { extends: _extends, ...rest } = merged
  const base: PolicyDocument = { ...rest, name: child.name, description: child.description }
  if (network !== undefined && network.mode !== undefined && network.mode !== "allowlist" && network.allowlist !== undefined) {
    const { allowlist: _allowlist, ...withoutAllowlist } = network
    return { ...base, network: withoutAllowlist }
  }
  return base
}

/** Fills every unset key with deny-by-default. */
export const effectiveOf = (
  document: PolicyDocument,
  meta: Pick<EffectivePolicy, "name" | "origin" | "version" | "chain">
): EffectivePolicy => {
  const violations = { ...defaultViolations }
  for (const kind of Object.keys(defaultViolations) as Array<RuleKind>) {
    const set = document.violations?.[kind]
    violations[kind] = { severity: set?.severity ?? defaultViolations[kind].severity, action: set?.action ?? defaultViolations[kind].action }
  }
  const roles: Record<string, Role> = { ...builtinRoles }
  for (const [name, role] of Object.entries(document.access?.roles ?? {})) roles[name] = { ...(roles[name] ?? {}), ...role }
  return {
    ...meta,
    contentHash: contentHashOf(document),
    document,
    limits: document.resources?.limits ?? {},
    quotas: document.resources?.quotas ?? {},
    runners: document.resources?.runners ?? null,
    access: {
      roles,
      assign: document.access?.assign ?? {},
      agents: document.access?.agents ?? {},
      overrides: document.access?.overrides ?? {},
      sudo: document.access?.sudo ?? false,
      linuxCapabilities: document.access?.linux_capabilities ?? []
    },
    network: {
      mode: document.network?.mode ?? "none",
      allowlist: document.network?.allowlist ?? [],
      dnsFilter: document.network?.dns?.filter ?? true,
      dnsBlocked: document.network?.dns?.blocked ?? []
    },
    commands: {
      blocked: document.commands?.blocked ?? [],
      blockedPatterns: document.commands?.blocked_patterns ?? [],
      restrictedShell: document.commands?.restricted_shell ?? false
    },
    violations
  }
}

/** The policy `name` (applied, else built-in) with its `extends` chain merged in. */
export const resolvePolicy = (name: string, applied: PolicyState): Either.Either<EffectivePolicy, UnresolvablePolicy> =>
  Either.map(extendsChain(name, applied), (chain) => resolvedFrom(chain, applied))

/** A document not (yet) applied, resolved against what is: for `policy validate` and `policy diff`. */
export const resolveDocument = (document: PolicyDocument, applied: PolicyState): Either.Either<EffectivePolicy, UnresolvablePolicy> =>
  Either.map(extendsChain(document.name, applied, document), (chain) => resolvedFrom(chain, applied, "candidate"))

const resolvedFrom = (chain: ReadonlyArray<PolicyDocument>, applied: PolicyState, candidate?: "candidate"): EffectivePolicy => {
  const merged = chain.reduceRight<PolicyDocument | undefined>(
    (parent, child) => (parent === undefined ? stripExtends(child) : mergeDocuments(parent, child)),
    undefined
  )
  const document = merged ?? { name: "empty", description: "" }
  const current = candidate === undefined ? applied[document.name]?.current : undefined
  return effectiveOf(document, {
    name: document.name,
    origin: current === undefined && candidate === undefined && builtinPolicies.has(document.name) ? "builtin" : "applied",
    version: current?.version ?? null,
    chain: chain.map((d) => d.name)
  })
}

const stripExtends = (document: PolicyDocument): PolicyDocument => {
  const { extends: _extends, ...rest } = document
  return rest
}
