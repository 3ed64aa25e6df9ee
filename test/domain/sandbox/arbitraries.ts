// Arbitraries for Sandbox commands: sequences that hit every state, with exec ids and names drawn from
// small pools so that results meet their commands and names collide.
import fc from "fast-check"
import type { SandboxCommand } from "../../../src/domain/sandbox/sandbox-commands.js"
import * as arb from "../../arbitraries/config.js"
import * as f from "./fixtures.js"

const execId = fc.constantFrom("e1", "e2", "e3")
const at = fc.integer({ min: f.AT, max: f.AT + 3 * 3_600_000 })
const name = fc.oneof(fc.constantFrom("alpha", "beta", "Bad Name", ""), fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,10}$/))
const counters = fc.option(fc.record({ oomKills: fc.nat(3), pidsLimitHits: fc.nat(3) }), { nil: null })
const output = fc.record({ sha256: fc.stringMatching(/^[0-9a-f]{64}$/), bytes: fc.nat(), truncated: fc.boolean() })

const launch: fc.Arbitrary<SandboxCommand> = fc.record({
  name,
  template: arb.template,
  resources: arb.resources,
  network: arb.network,
  namesInUse: fc.subarray(["alpha", "beta", "gamma"]),
  runners: fc.subarray(["bwrap", "containerd", "qemu"]),
  allow: fc.boolean(),
  at
}).map(({ allow, ...rest }) => f.launch({ ...rest, security: { ...f.security, allow_internet: allow } }))

export const command: fc.Arbitrary<SandboxCommand> = fc.oneof(
  launch,
  fc.constant(f.commands.RecordProvisioned),
  fc.constant(f.commands.RecordStarted),
  fc.record({ execId, argv: fc.array(fc.string(), { maxLength: 3 }), timeoutMs: fc.option(fc.integer({ min: -1, max: 10_000 }), { nil: null }), at })
    .map(({ execId: id, ...rest }) => f.exec(id, rest)),
  fc.record({ execId, oomKilled: fc.boolean(), counters, stdout: output, exitCode: fc.option(fc.integer({ min: 0, max: 255 }), { nil: null }) })
    .map(({ execId: id, ...rest }) => f.executed(id, rest)),
  execId.map((id): SandboxCommand => ({ _tag: "RecordExecFailed", execId: id, reason: "failed", at: f.AT })),
  fc.constant(f.commands.Pause),
  fc.constant(f.commands.Resume),
  fc.string().map((reason): SandboxCommand => ({ _tag: "Stop", reason, at: f.AT })),
  fc.constant(f.commands.Destroy),
  fc.constant(f.commands.MarkDead),
  fc.constantFrom("launch", "exec", "pause", "resume", "stop").map((operation): SandboxCommand => ({ _tag: "RecordFailed", operation, reason: "boom", at: f.AT }))
)

/** Mostly the happy path first, so that later commands meet a live sandbox. */
export const commands: fc.Arbitrary<ReadonlyArray<SandboxCommand>> = fc
  .tuple(fc.boolean(), fc.array(command, { maxLength: 40 }))
  .map(([happy, rest]) => (happy ? [f.launch(), f.commands.RecordProvisioned, f.commands.RecordStarted, ...rest] : rest))
