// The sandboxes read model: built from ledger records with the aggregate's evolve, the same whether
// rebuilt from scratch or kept up record by record, and blind to whether values are sealed.
import { Chunk, Effect, Either, HashMap, Stream } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { sensitiveFields } from "../../src/domain/events/catalogue.js"
import { redactData, seal } from "../../src/domain/ledger/sealed.js"
import type { SandboxCommand } from "../../src/domain/sandbox/sandbox-commands.js"
import { decide, evolve, fold, initialState, type SandboxState } from "../../src/domain/sandbox/sandbox.js"
import type { SandboxEvent } from "../../src/domain/sandbox/sandbox-events.js"
import {
  applyRecord,
  emptySandboxes,
  findSandbox,
  foldSandboxes,
  listSandboxes,
  namesInUse,
  type SandboxRecord,
  type SandboxesModel
} from "../../src/projections/sandboxes.js"
import { command } from "../domain/sandbox/arbitraries.js"
import * as f from "../domain/sandbox/fixtures.js"

const ids = ["s1", "s2", "s3"] as const

/** Decides each (sandbox, command) against that sandbox's state and stamps the events as records. */
const recordsOf = (steps: ReadonlyArray<readonly [string, SandboxCommand]>) => {
  const states = new Map<string, SandboxState>()
  const revisions = new Map<string, number>()
  const events = new Map<string, Array<SandboxEvent>>()
  const records: Array<SandboxRecord> = []
  /** Per record, the event as decided (what the sandbox service hands to applyRecord); none for a rejection. */
  const known: Array<SandboxEvent | undefined> = []
  steps.forEach(([id, cmd]) => {
    const command = cmd._tag === "Launch" ? { ...cmd, sandboxId: id } : cmd
    const state = states.get(id) ?? initialState()
    const decision = decide(command, state)
    const produced: ReadonlyArray<SandboxEvent> = Either.isRight(decision)
      ? decision.right
      : []
    for (const event of produced) {
      const revision = (revisions.get(id) ?? -1) + 1
      revisions.set(id, revision)
      const data: Record<string, unknown> = { ...event.data }
      for (const field of sensitiveFields(event.type)) data[field] = seal(data[field], "cd".repeat(16))
      records.push({ id: `r${records.length}`, stream: `sandbox-${id}`, type: event.type, revision, at: new Date(f.AT + records.length * 1000).toISOString().replace("Z", "000Z"), data })
      known.push(event)
    }
    if (Either.isLeft(decision) && state.lifecycle !== "initial") {
      const revision = (revisions.get(id) ?? -1) + 1
      revisions.set(id, revision)
      records.push({ id: `r${records.length}`, stream: `sandbox-${id}`, type: "CommandRejected", revision, at: new Date(f.AT).toISOString().replace("Z", "000Z"), data: {} })
      known.push(undefined)
    }
    states.set(id, produced.reduce(evolve, state))
    events.set(id, [...(events.get(id) ?? []), ...produced])
  })
  return { records, known, states, events, revisions }
}

const steps = fc.array(fc.tuple(fc.constantFrom(...ids), command), { maxLength: 60 }).map((rest) => [
  ...ids.map((id) => [id, f.launch({ name: `n-${id}` })] as const),
  ...ids.map((id) => [id, f.commands.RecordProvisioned] as const),
  ...ids.map((id) => [id, f.commands.RecordStarted] as const),
  ...rest
])

const rebuild = (records: ReadonlyArray<SandboxRecord>) => Effect.runSync(foldSandboxes(Stream.fromIterable(records)))

const snapshot = (model: SandboxesModel) => ({
  views: listSandboxes(model, { includeDestroyed: true }),
  entries: Chunk.toReadonlyArray(Chunk.sort(Chunk.fromIterable(HashMap.keys(model.sandboxes)), (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0))).map((k) => HashMap.unsafeGet(model.sandboxes, k)),
  problems: model.problems
})

describe("sandboxes projection", () => {
  it("rebuilt from scratch equals the model kept up record by record, from any checkpoint", () => {
    fc.assert(
      fc.property(steps, fc.nat(), (sequence, cut) => {
        const { records } = recordsOf(sequence)
        const k = records.length === 0 ? 0 : cut % (records.length + 1)
        let incremental = emptySandboxes
        for (const record of records.slice(0, k)) incremental = applyRecord(incremental, record)
        const resumed = Effect.runSync(Stream.runFold(Stream.fromIterable(records.slice(k)), incremental, applyRecord))
        expect(snapshot(resumed)).toEqual(snapshot(rebuild(records)))
      }),
      { numRuns: 200 }
    )
  })

  it("folding a record with its event as decided equals decoding the stored (sealed) record", () => {
    fc.assert(
      fc.property(steps, (sequence) => {
        const { records, known } = recordsOf(sequence)
        const withKnown = records.reduce((model, record, i) => applyRecord(model, record, known[i]), emptySandboxes)
        expect(snapshot(withKnown)).toEqual(snapshot(rebuild(records)))
      }),
      { numRuns: 100 }
    )
  })

  it("holds for each sandbox the aggregate's own state and the stream's last revision", () => {
    fc.assert(
      fc.property(steps, (sequence) => {
        const { records, events, revisions } = recordsOf(sequence)
        const model = rebuild(records)
        for (const id of ids) {
          const entry = HashMap.unsafeGet(model.sandboxes, id)
          expect(entry.state).toEqual(fold(events.get(id) ?? []))
          expect(entry.revision).toBe(revisions.get(id))
        }
        const live = listSandboxes(model)
        expect(live.every((v) => v.state !== "destroyed")).toBe(true)
        expect([...namesInUse(model)].sort()).toEqual(live.map((v) => v.name).sort())
        expect(model.problems).toEqual([])
      }),
      { numRuns: 200 }
    )
  })

  it("shows a sandbox's view: template, runner, owner, exec count and last exec", () => {
    const { records } = recordsOf([
      ["s1", f.launch({ name: "alpha" })],
      ["s1", f.commands.RecordProvisioned],
      ["s1", f.commands.RecordStarted],
      ["s1", f.exec("e1")],
      ["s1", f.executed("e1", { exitCode: 3 })]
    ])
    const model = rebuild(records)
    const view = listSandboxes(model)[0]!
    expect(view).toMatchObject({
      id: "s1",
      name: "alpha",
      state: "running",
      template: "tiny",
      runner: "bwrap",
      owner: { kind: "operator", id: "alice" },
      execCount: 1,
      runningExecs: 0,
      lastExec: { execId: "e1", exitCode: 3, argv: ["echo", "hi"], recordId: "r4" },
      handle: f.handle,
      createdAt: records[0]!.at,
      revision: 4
    })
    expect(findSandbox(model, "alpha")).toBe(findSandbox(model, "s1"))
    expect(findSandbox(model, "nope")).toBeUndefined()
  })

  it("keeps working on redacted records: the argv and the handle read as unknown", () => {
    const { records } = recordsOf([["s1", f.launch()], ["s1", f.commands.RecordProvisioned], ["s1", f.commands.RecordStarted], ["s1", f.exec()], ["s1", f.executed()]])
    const model = rebuild(records.map((r) => ({ ...r, data: redactData(r.data, ["*"]) })))
    expect(listSandboxes(model)[0]).toMatchObject({ state: "running", execCount: 1, handle: null, lastExec: { argv: null, exitCode: 0 } })
  })

  it("skips a record it cannot decode and says which", () => {
    const { records } = recordsOf([["s1", f.launch()]])
    const model = rebuild([...records, { id: "bad", stream: "sandbox-s1", type: "SandboxStopped", revision: 1, at: records[0]!.at, data: { reason: 7 } }])
    expect(model.problems).toMatchObject([{ recordId: "bad", type: "SandboxStopped" }])
    expect(listSandboxes(model)[0]).toMatchObject({ state: "requested", revision: 1 })
  })
})
