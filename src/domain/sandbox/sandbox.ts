// The Sandbox aggregate as a decider: `decide(command, state)` gives the events a command leads to or
// a tagged rejection, `evolve(state, event)` folds an event in. Pure: no I/O, time comes in commands.
//   requested → provisioning → running ⇄ paused → stopped → destroyed, and failed from any live state.
import { Either } from "effect"
import type { Actor } from "../ledger/record.js"
import type { RedactedValue } from "../ledger/sealed.js"
import { valueOr } from "../events/redactable.js"
import type { LimitCounters, SandboxCommand } from "./sandbox-commands.js"
import type { RunnerHandle, SandboxEvent, SandboxEventType } from "./sandbox-events.js"
import {
  InvalidCommand,
  InvalidName,
  InvalidTransition,
  LimitsExceeded,
  NameTaken,
  NetworkNotAllowed,
  PolicyRefused,
  RunnerUnavailable,
  SandboxNotRunning,
  SessionExpired,
  UnknownExec,
  type SandboxRejection
} from "./rejections.js"
import { checkAgainstLimits, type Network, type Resources, type Template } from "./template.js"
import { checkLaunch } from "../policy/check-launch.js"
import { checkCommand } from "../policy/check-command.js"

export type Lifecycle = "requested" | "provisioning" | "running" | "paused" | "stopped" | "destroyed" | "failed"
export type LifecycleOrInitial = "initial" | Lifecycle

type Redactable<A> = A | RedactedValue

export interface PendingExec {
  readonly argv: Redactable<ReadonlyArray<string>>
  readonly cwd: Redactable<string | null>
  readonly env: Redactable<Readonly<Record<string, string>>>
}

export interface Sandbox {
  readonly lifecycle: Lifecycle
  readonly sandboxId: string
  readonly name: string
  readonly template: Template
  readonly resources: Resources
  readonly network: Network
  readonly policy: string
  readonly owner: Actor
  readonly agent: string | null
  readonly expiresAt: string | null
  /** The runner's handle; null before provisioning or when the ledger's copy was redacted. */
  readonly handle: RunnerHandle | null
  /** Commands started and not yet finished, by exec id. */
  readonly pending: Readonly<Record<string, PendingExec>>
  readonly counters: LimitCounters
  readonly execCount: number
  readonly stopReason: string | null
  readonly failure: string | null
}

export type SandboxState = { readonly lifecycle: "initial" } | Sandbox

export const initialState = (): SandboxState => ({ lifecycle: "initial" })

export type Decision = Either.Either<ReadonlyArray<SandboxEvent>, SandboxRejection>

/** The states each event may follow; the decider is tested against this table. */
export const allowedFrom: Readonly<Record<SandboxEventType, ReadonlyArray<LifecycleOrInitial>>> = {
  SandboxRequested: ["initial"],
  SandboxProvisioned: ["requested"],
  SandboxStarted: ["provisioning"],
  CommandStarted: ["running"],
  CommandExecuted: ["running", "paused", "stopped", "destroyed", "failed"],
  CommandFailed: ["running", "paused", "stopped", "destroyed", "failed"],
  ResourceLimitHit: ["running", "paused", "stopped", "destroyed", "failed"],
  SandboxPaused: ["running"],
  SandboxResumed: ["paused"],
  SandboxStopped: ["running", "paused"],
  SandboxDestroyed: ["requested", "provisioning", "stopped", "failed"],
  SandboxFailed: ["requested", "provisioning", "running", "paused", "stopped"],
  SandboxFoundDead: ["provisioning", "running", "paused"]
}

const ok = (...events: ReadonlyArray<SandboxEvent>): Decision => Either.right(events)
const no = (rejection: SandboxRejection): Decision => Either.left(rejection)

const invalid = (command: string, state: LifecycleOrInitial, why?: string) =>
  no(new InvalidTransition({
    command,
    state,
    reason: state === "initial" ? `no such sandbox (${command} before launch)` : why ?? `cannot ${command.toLowerCase()} a sandbox that is ${state}`
  }))

const notRunning = (command: string, state: Lifecycle) =>
  no(new SandboxNotRunning({ command, state, reason: `cannot ${command.toLowerCase()}: the sandbox is ${state}, not running` }))

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/

const expiry = (at: number, hours: number | undefined): string | null => {
  if (hours === undefined) return null
  const ms = at + hours * 3_600_000
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : null
}

const decideLaunch = (command: Extract<SandboxCommand, { _tag: "Launch" }>): Decision => {
  const { name, template, security } = command
  if (!NAME.test(name)) {
    return no(new InvalidName({ name, reason: `invalid sandbox name '${name}': use 1 to 63 lower-case letters, digits and '-', starting with a letter or digit` }))
  }
  if (command.namesInUse.includes(name)) return no(new NameTaken({ name, reason: `a sandbox named '${name}' already exists; destroy it or choose another name` }))
  if (!command.runners.includes(template.runner)) {
    return no(new RunnerUnavailable({
      runner: template.runner,
      available: command.runners,
      reason: `template '${template.name}' needs the ${template.runner} runner; this host has ${command.runners.join(", ") || "none"}`
    }))
  }
  let { resources, network } = command
  // The operator's hard maxima refuse a request outright; the policy then narrows what remains.
  const limits = checkAgainstLimits(resources, { security })
  if (Either.isLeft(limits)) return no(new LimitsExceeded({ violations: limits.left.violations, reason: limits.left.message }))
  let sessionHours = template.session_duration_hours
  let narrowed: ReadonlyArray<{ field: string; rule: string; from: unknown; to: unknown }> | undefined
  const policy = command.effectivePolicy
  if (policy !== undefined) {
    const grant = checkLaunch(policy, { resources, network, runner: template.runner, ...(sessionHours !== undefined ? { sessionDurationHours: sessionHours } : {}) })
    if (Either.isLeft(grant)) return no(new PolicyRefused({ policy: grant.left.policy, rule: grant.left.rule, reason: grant.left.message }))
    resources = grant.right.resources
    network = grant.right.network
    sessionHours = grant.right.sessionDurationHours ?? undefined
    narrowed = grant.right.narrowed.map(({ field, rule, from, to }) => ({ field, rule, from, to }))
  }
  if (network.mode === "open" && !security.allow_internet) {
    return no(new NetworkNotAllowed({ mode: "open", reason: "network mode 'open' needs security.allow_internet: true; use 'allowlist' or 'none'" }))
  }
  return ok({
    type: "SandboxRequested",
    data: {
      sandboxId: command.sandboxId,
      name,
      template,
      resources,
      network,
      policy: command.policy,
      owner: command.owner,
      agent: command.agent,
      env: command.env,
      expiresAt: expiry(command.at, sessionHours),
      ...(policy !== undefined ? { policyHash: policy.contentHash, narrowed: narrowed ?? [] } : {})
    }
  })
}

const decideExec = (command: Extract<SandboxCommand, { _tag: "Exec" }>, state: Sandbox): Decision => {
  if (state.lifecycle !== "running") return notRunning("Exec", state.lifecycle)
  if (state.expiresAt !== null && command.at >= Date.parse(state.expiresAt)) {
    return no(new SessionExpired({ expiresAt: state.expiresAt, reason: `the sandbox's session ended at ${state.expiresAt}; launch a new one` }))
  }
  if (command.argv.length === 0) return no(new InvalidCommand({ field: "argv", reason: "argv is empty: give the program to run" }))
  if (command.timeoutMs !== null && !(command.timeoutMs > 0)) return no(new InvalidCommand({ field: "timeoutMs", reason: "timeoutMs must be positive" }))
  if (command.execId in state.pending) return no(new InvalidCommand({ field: "execId", reason: `exec id ${command.execId} is already running` }))
  if (command.effectivePolicy !== undefined) {
    const allowed = checkCommand(command.effectivePolicy, command.argv)
    if (Either.isLeft(allowed)) return no(new PolicyRefused({ policy: allowed.left.policy, rule: allowed.left.rule, reason: allowed.left.message }))
  }
  return ok({
    type: "CommandStarted",
    data: { execId: command.execId, argv: command.argv, cwd: command.cwd, env: command.env, stdin: command.stdin, timeoutMs: command.timeoutMs }
  })
}

const decideExecuted = (command: Extract<SandboxCommand, { _tag: "RecordExecuted" }>, state: Sandbox): Decision => {
  const pending = state.pending[command.execId]
  if (pending === undefined) return no(new UnknownExec({ execId: command.execId, reason: `no command ${command.execId} is running in this sandbox` }))
  const events: Array<SandboxEvent> = [{
    type: "CommandExecuted",
    data: {
      execId: command.execId,
      argv: pending.argv,
      cwd: pending.cwd,
      env: pending.env,
      exitCode: command.exitCode,
      signal: command.signal,
      durationMs: command.durationMs,
      timedOut: command.timedOut,
      oomKilled: command.oomKilled,
      stdout: command.stdout,
      stderr: command.stderr,
      ...(command.runnerMs !== undefined ? { runnerMs: Math.max(0, command.runnerMs) } : {})
    }
  }]
  const { oomKills, pidsLimitHits } = state.counters
  const seenOom = command.counters?.oomKills ?? oomKills
  if (command.oomKilled || seenOom > oomKills) {
    events.push({ type: "ResourceLimitHit", data: { kind: "memory", execId: command.execId, count: Math.max(seenOom, oomKills + 1), limit: state.resources.memory_mb } })
  }
  if (command.counters !== null && command.counters.pidsLimitHits > pidsLimitHits) {
    events.push({ type: "ResourceLimitHit", data: { kind: "pids", execId: command.execId, count: command.counters.pidsLimitHits, limit: state.resources.pids } })
  }
  return ok(...events)
}

export const decide = (command: SandboxCommand, state: SandboxState): Decision => {
  if (state.lifecycle === "initial") return command._tag === "Launch" ? decideLaunch(command) : invalid(command._tag, "initial")
  const s = state
  const from = s.lifecycle
  switch (command._tag) {
    case "Launch":
      return invalid("Launch", from, `sandbox ${s.sandboxId} already exists (${from})`)
    case "RecordProvisioned":
      return from === "requested" ? ok({ type: "SandboxProvisioned", data: { handle: command.handle } }) : invalid(command._tag, from)
    case "RecordStarted":
      return from === "provisioning" ? ok({ type: "SandboxStarted", data: { handle: command.handle } }) : invalid(command._tag, from)
    case "Exec":
      return decideExec(command, s)
    case "RecordExecuted":
      return decideExecuted(command, s)
    case "RecordExecFailed":
      return command.execId in s.pending
        ? ok({ type: "CommandFailed", data: { execId: command.execId, reason: command.reason } })
        : no(new UnknownExec({ execId: command.execId, reason: `no command ${command.execId} is running in this sandbox` }))
    case "Pause":
      return from === "running" ? ok({ type: "SandboxPaused", data: {} }) : from === "paused" ? invalid("Pause", from, "the sandbox is already paused") : notRunning("Pause", from)
    case "Resume":
      return from === "paused" ? ok({ type: "SandboxResumed", data: {} }) : invalid("Resume", from, `cannot resume a sandbox that is ${from}, not paused`)
    case "Stop":
      return from === "running" || from === "paused" ? ok({ type: "SandboxStopped", data: { reason: command.reason } }) : notRunning("Stop", from)
    case "Destroy":
      if (from === "running" || from === "paused") return ok({ type: "SandboxStopped", data: { reason: "destroy" } }, { type: "SandboxDestroyed", data: {} })
      return from === "destroyed" ? invalid("Destroy", from, "the sandbox is already destroyed") : ok({ type: "SandboxDestroyed", data: {} })
    case "MarkDead":
      return from === "provisioning" || from === "running" || from === "paused"
        ? ok({ type: "SandboxFoundDead", data: { reason: command.reason } })
        : invalid("MarkDead", from, `a sandbox that is ${from} cannot be found dead`)
    case "RecordFailed":
      return from === "destroyed" || from === "failed"
        ? invalid("RecordFailed", from)
        : ok({ type: "SandboxFailed", data: { operation: command.operation, reason: command.reason } })
  }
}

const without = <A>(record: Readonly<Record<string, A>>, key: string): Readonly<Record<string, A>> => {
  if (!(key in record)) return record
  const { [key]: _, ...rest } = record
  return rest
}

const handleOf = (handle: Redactable<RunnerHandle>): RunnerHandle | null => valueOr(handle, null)

export const evolve = (state: SandboxState, event: SandboxEvent): SandboxState => {
  if (state.lifecycle === "initial") {
    if (event.type !== "SandboxRequested") return state
    const d = event.data
    return {
      lifecycle: "requested",
      sandboxId: d.sandboxId,
      name: d.name,
      template: d.template,
      resources: d.resources,
      network: d.network,
      policy: d.policy,
      owner: d.owner,
      agent: d.agent,
      expiresAt: d.expiresAt,
      handle: null,
      pending: {},
      counters: { oomKills: 0, pidsLimitHits: 0 },
      execCount: 0,
      stopReason: null,
      failure: null
    }
  }
  switch (event.type) {
    case "SandboxRequested":
      return state
    case "SandboxProvisioned":
      return { ...state, lifecycle: "provisioning", handle: handleOf(event.data.handle) }
    case "SandboxStarted":
      return { ...state, lifecycle: "running", handle: handleOf(event.data.handle) }
    case "CommandStarted": {
      const { execId, argv, cwd, env } = event.data
      return { ...state, pending: { ...state.pending, [execId]: { argv, cwd, env } } }
    }
    case "CommandExecuted":
      return { ...state, pending: without(state.pending, event.data.execId), execCount: state.execCount + 1 }
    case "CommandFailed":
      return { ...state, pending: without(state.pending, event.data.execId) }
    case "ResourceLimitHit": {
      const { kind, count } = event.data
      const counters = kind === "memory"
        ? { ...state.counters, oomKills: Math.max(state.counters.oomKills, count) }
        : { ...state.counters, pidsLimitHits: Math.max(state.counters.pidsLimitHits, count) }
      return { ...state, counters }
    }
    case "SandboxPaused":
      return { ...state, lifecycle: "paused" }
    case "SandboxResumed":
      return { ...state, lifecycle: "running" }
    case "SandboxStopped":
      return { ...state, lifecycle: "stopped", stopReason: event.data.reason }
    case "SandboxDestroyed":
      return { ...state, lifecycle: "destroyed" }
    case "SandboxFailed":
      return { ...state, lifecycle: "failed", failure: `${event.data.operation}: ${event.data.reason}` }
    case "SandboxFoundDead":
      return { ...state, lifecycle: "failed", failure: `found dead: ${event.data.reason}`, pending: {} }
  }
}

/** Folds events from the initial state. */
export const fold = (events: Iterable<SandboxEvent>, from: SandboxState = initialState()): SandboxState => {
  let state = from
  for (const event of events) state = evolve(state, event)
  return state
}

/** Whether the sandbox holds its name: from its request until it is destroyed. */
export const holdsName = (state: SandboxState): state is Sandbox => state.lifecycle !== "initial" && state.lifecycle !== "destroyed"

