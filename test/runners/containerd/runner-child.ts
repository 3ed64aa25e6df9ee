// Stands in for a daemon in the conformance suite's crash test: builds the runner named in argv[2] with
// the tests' configuration, creates and starts the sandbox whose spec is argv[3] (JSON), prints the
// handle as one JSON line, then waits to be SIGKILLed. An unknown runner name exits 2 naming the known ones.
import { Effect } from "effect"
import type { Scope } from "effect"
import { make as makeBwrap } from "../../../src/runners/bwrap/bwrap-runner.js"
import { make as makeContainerd } from "../../../src/runners/containerd/containerd-runner.js"
import type { Runner, SandboxSpec } from "../../../src/runners/runner.js"
import { TEST_CGROUP_PARENT } from "../bwrap/sandbox-fixture.js"
import { TEST_CONTAINERD } from "./fixture.js"

const runners: Readonly<Record<string, Effect.Effect<Runner, never, Scope.Scope>>> = {
  bwrap: makeBwrap({ cgroupParent: TEST_CGROUP_PARENT }),
  containerd: makeContainerd(TEST_CONTAINERD)
}

const name = process.argv[2] ?? ""
const runner = runners[name]
if (runner === undefined) {
  process.stderr.write(`unknown runner "${name}"; known runners: ${Object.keys(runners).join(", ")}\n`)
  process.exit(2)
}
const spec = JSON.parse(process.argv[3] ?? "{}") as SandboxSpec

const program = Effect.gen(function* () {
  const r = yield* runner
  const handle = yield* r.start(yield* r.create(spec))
  process.stdout.write(`${JSON.stringify(handle)}\n`)
  yield* Effect.never
})

Effect.runPromise(Effect.scoped(program)).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`)
  process.exitCode = 1
})
