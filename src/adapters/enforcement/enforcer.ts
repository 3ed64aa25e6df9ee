// The enforcement engine: watches what the monitors record, finds the policy rules it breaks
// (domain/policy/observation-rules.ts; `disk_gb` against the workspace's size, workspace-size.ts),
// records PolicyViolated and carries out the policy's action (alert, kill the process, pause or stop
// the sandbox), itself recorded as PolicyActionTaken. It also stops a sandbox whose session is over,
// at the time its SandboxRequested says (`Effect.sleep`: the Clock of the caller, so tests drive it
// with the TestClock).
// Observations are queued and handled by one fiber: an action (stop) ends the monitors, which flush
// through the very sink that fed the queue, so acting inside the sink would deadlock.
import * as fs from "node:fs"
import { Clock, Context, Duration, Effect, Either, Fiber, Layer, Option, Queue, Stream } from "effect"
import { decodeEventData } from "../../domain/events/catalogue.js"
import type { Actor, LedgerRecord } from "../../domain/ledger/record.js"
import { observationStream } from "../../domain/monitors/monitor-events.js"
import { findViolations, usageOf, type Finding } from "../../domain/policy/observation-rules.js"
import { PolicyActionTaken, PolicyViolated, type ActionOutcome } from "../../domain/policy/policy-events.js"
import type { ViolationAction } from "../../domain/policy/policy-document.js"
import type { UsageSample } from "../../domain/policy/quotas.js"
import type { EffectivePolicy } from "../../domain/policy/resolve.js"
import { ruleAction } from "../../domain/policy/rule-action.js"
import { applyFileChange, checkDiskLimit, emptyWorkspaceSize, type WorkspaceSize } from "../../domain/policy/workspace-size.js"
import type { SandboxView } from "../../projections/sandboxes.js"
import type { SandboxHandle } from "../../runners/runner.js"
import { Ledger } from "../ledger/ledger.js"
import type { SandboxServiceShape } from "../sandbox/sandbox-service.js"
import { EventStore } from "../store/event-store.js"
import { lookupPolicy } from "./policy-lookup.js"

export const POLICY_ENGINE: Actor = { kind: "system", id: "policy-engine" }

interface Watched {
  readonly view: SandboxView
  readonly policy: EffectivePolicy
  /** Host pid of the sandbox's first process: its pid namespace tells the sandbox's processes apart. */
  readonly pid: number | null
  readonly usage: Array<UsageSample>
  readonly reported: Set<string>
  /** The workspace's files and their sizes, for `disk_gb`. */
  readonly workspace: WorkspaceSize
  timer: Fiber.RuntimeFiber<void> | null
}

type Work =
  | { readonly _tag: "observed"; readonly sandboxId: string; readonly records: ReadonlyArray<LedgerRecord> }
  | { readonly _tag: "session-over"; readonly sandboxId: string }
  | { readonly _tag: "sync"; readonly done: (u: void) => void }

export interface EnforcerShape {
  /** Hands freshly appended observation records to the engine (returns at once). */
  readonly observe: (sandboxId: string, records: ReadonlyArray<LedgerRecord>) => Effect.Effect<void>
  readonly running: (view: SandboxView, handle: SandboxHandle) => Effect.Effect<void>
  readonly ended: (sandboxId: string) => Effect.Effect<void>
  /** The service the engine stops and pauses sandboxes through; set once the daemon has built it. */
  readonly attach: (service: SandboxServiceShape) => Effect.Effect<void>
  /** Resolves once everything handed to `observe` before the call has been acted on (tests, shutdown). */
  readonly settled: Effect.Effect<void>
}

export class Enforcer extends Context.Tag("hydravisor/Enforcer")<Enforcer, EnforcerShape>() {}

const samePidNamespace = (pid: number, sandboxPid: number): boolean => {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/pid`) === fs.readlinkSync(`/proc/${sandboxPid}/ns/pid`)
  } catch {
    return false
  }
}

export const make = (options: { readonly log?: (line: string) => void } = {}) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    const store = yield* EventStore
    const log = options.log ?? (() => {})
    /**
     * Takes one observation into the sandbox's books (usage, findings reported once) and returns the
     * rules it breaks: the live path enforces them, the replay after a restart only keeps the books.
     */
    const account = (w: Watched, record: LedgerRecord): ReadonlyArray<Finding> => {
      const decoded = decodeEventData(record.type, record.data)
      if (Either.isLeft(decoded)) return []
      const observation = { id: record.id, at: record.at, type: record.type, data: decoded.right as Record<string, unknown> }
      const found = findViolations(w.policy, observation, w.usage, w.reported)
      applyFileChange(w.workspace, observation)
      const overDisk = checkDiskLimit(w.workspace, w.view.resources.disk_gb, observation)
      const findings = overDisk === null ? found : [...found, overDisk]
      const used = usageOf(observation)
      if (used !== null) w.usage.push(used)
      for (const f of findings) if (f.once !== null) w.reported.add(f.once)
      return findings
    }

    const queue = yield* Queue.unbounded<Work>()
    const watched = new Map<string, Watched>()
    let service: SandboxServiceShape | null = null

    const record = (sandboxId: string, type: string, data: Record<string, unknown>, causation: string | null, sensitive?: ReadonlyArray<string>) =>
      ledger.append(observationStream(sandboxId), [{ type, data, ...(sensitive ? { sensitive } : {}) }], { actor: POLICY_ENGINE, causation })

    const act = (w: Watched, action: ViolationAction, finding: Finding): Effect.Effect<{ outcome: ActionOutcome; detail: string }> => {
      const id = w.view.id
      const reason = `policy ${w.policy.name}: ${finding.rule}`
      switch (action) {
        case "alert":
          return Effect.succeed({ outcome: "succeeded", detail: "recorded as an alert" })
        case "kill-process":
          return Effect.sync(() => {
            if (finding.pid === null) return { outcome: "skipped" as const, detail: "no process is known for this observation" }
            if (w.pid === null || !samePidNamespace(finding.pid, w.pid)) return { outcome: "skipped" as const, detail: `process ${finding.pid} is gone (or not the sandbox's)` }
            try {
              process.kill(finding.pid, "SIGKILL")
              return { outcome: "succeeded" as const, detail: `killed process ${finding.pid}` }
            } catch (e) {
              return { outcome: "failed" as const, detail: `could not kill process ${finding.pid}: ${(e as Error).message}` }
            }
          })
        case "pause":
        case "stop": {
          if (service === null) return Effect.succeed({ outcome: "failed", detail: "the sandbox service is not attached" })
          const run = action === "pause" ? service.pause(id, POLICY_ENGINE) : service.stop(id, reason, POLICY_ENGINE)
          return run.pipe(
            Effect.as({ outcome: "succeeded" as const, detail: action === "pause" ? "sandbox paused" : "sandbox stopped" }),
            Effect.catchAll((e) =>
              Effect.succeed(
                e._tag === "SandboxNotRunning" || e._tag === "InvalidTransition"
                  ? { outcome: "skipped" as const, detail: `nothing to ${action}: ${e.message}` }
                  : { outcome: "failed" as const, detail: e.message }
              )
            )
          )
        }
      }
    }

    const enforce = (w: Watched, finding: Finding, forced?: ViolationAction) =>
      Effect.gen(function* () {
        const { severity, action: configured } = ruleAction(w.policy, finding.kind)
        const action = forced ?? configured
        const [violation] = yield* record(w.view.id, PolicyViolated.type, {
          sandboxId: w.view.id,
          policy: w.policy.name,
          policyHash: w.policy.contentHash,
          rule: finding.rule,
          kind: finding.kind,
          severity,
          action,
          evidence: finding.evidence,
          detail: finding.detail
        }, finding.evidence[0] ?? null, PolicyViolated.sensitive)
        if (violation === undefined) return
        const { outcome, detail } = yield* act(w, action, finding)
        yield* record(w.view.id, PolicyActionTaken.type, { sandboxId: w.view.id, violation: violation.id, action, outcome, detail }, violation.id)
      })

    const handle = (work: Work): Effect.Effect<void> => {
      switch (work._tag) {
        case "sync":
          return Effect.sync(() => work.done())
        case "session-over":
          return Effect.suspend(() => {
            const w = watched.get(work.sandboxId)
            if (w === undefined) return Effect.void
            const hours = w.policy.limits.session_duration_hours
            return enforce(w, {
              kind: "resource-limit",
              rule: "resources.limits.session_duration_hours",
              detail: `the session ended at ${w.view.expiresAt}${hours !== undefined ? ` (${hours} h)` : ""}`,
              evidence: [],
              pid: null,
              once: null
            }, "stop").pipe(Effect.catchAll((e) => Effect.sync(() => log(`policy engine: ${e.message}`))))
          })
        case "observed":
          return Effect.forEach(work.records, (r) =>
            Effect.suspend(() => {
              const w = watched.get(work.sandboxId)
              return w === undefined ? Effect.void : Effect.forEach(account(w, r), (f) => enforce(w, f), { discard: true })
            }).pipe(Effect.catchAll((e) => Effect.sync(() => log(`policy engine: ${e.message}`)))),
            { discard: true }
          )
      }
    }

    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(queue), handle)))

    /**
     * What the engine knew of a sandbox before this daemon started: the usage its observations add
     * up to, and the findings already reported once (a quota's period), so that a restart neither
     * resets a quota nor reports a violation twice. Nothing is enforced while replaying.
     */
    const replay = (w: Watched) => Stream.runForEach(store.readStream(observationStream(w.view.id)), ({ record }) => Effect.sync(() => void account(w, record)))

    const running: EnforcerShape["running"] = (view, handle) =>
      Effect.gen(function* () {
        if (watched.has(view.id)) return
        const found = yield* lookupPolicy(store, view.policy).pipe(Effect.orElseSucceed(() => null))
        if (found === null || Either.isLeft(found)) {
          log(`policy engine: sandbox ${view.id}: policy '${view.policy}' cannot be resolved; observations are recorded but not enforced`)
          return
        }
        const w: Watched = { view, policy: found.right, pid: handle.pid, usage: [], reported: new Set(), workspace: emptyWorkspaceSize(), timer: null }
        yield* replay(w).pipe(Effect.catchAll((e) => Effect.sync(() => log(`policy engine: sandbox ${view.id}: its earlier observations could not be read (${e.message}); quotas count from now`))))
        watched.set(view.id, w)
        if (view.expiresAt !== null) {
          const due = Date.parse(view.expiresAt)
          const now = yield* Clock.currentTimeMillis
          w.timer = yield* Effect.forkDaemon(
            Effect.sleep(Duration.millis(Math.max(0, due - now))).pipe(Effect.zipRight(Queue.offer(queue, { _tag: "session-over", sandboxId: view.id })), Effect.asVoid)
          )
        }
      })

    const ended: EnforcerShape["ended"] = (sandboxId) =>
      Effect.suspend(() => {
        const w = watched.get(sandboxId)
        if (w === undefined) return Effect.void
        watched.delete(sandboxId)
        return w.timer === null ? Effect.void : Fiber.interrupt(w.timer).pipe(Effect.asVoid)
      })

    const shape: EnforcerShape = {
      observe: (sandboxId, records) => (watched.has(sandboxId) ? Queue.offer(queue, { _tag: "observed", sandboxId, records }).pipe(Effect.asVoid) : Effect.void),
      running,
      ended,
      attach: (s) => Effect.sync(() => void (service = s)),
      settled: Effect.async<void>((resume) => {
        Queue.unsafeOffer(queue, { _tag: "sync", done: () => resume(Effect.void) })
      })
    }
    yield* Effect.addFinalizer(() => Effect.forEach([...watched.keys()], ended, { discard: true }))
    return shape
  })

export const EnforcerLive = (options: { readonly log?: (line: string) => void } = {}) => Layer.scoped(Enforcer, make(options))

export const optionalEnforcer = Effect.serviceOption(Enforcer).pipe(Effect.map(Option.getOrNull))
