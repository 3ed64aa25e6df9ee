// Stands in for a daemon in the "daemon killed" test: creates and starts the sandbox whose spec is
// argv[2] (JSON), prints the handle as one JSON line, then waits to be SIGKILLed.
import { Effect } from "effect"
import { make } from "../../../src/runners/bwrap/bwrap-runner.js"
import type { SandboxSpec } from "../../../src/runners/runner.js"
import { TEST_CGROUP_PARENT } from "./sandbox-fixture.js"

const spec = JSON.parse(process.argv[2] ?? "{}") as SandboxSpec

const program = Effect.gen(function* () {
  const runner = yield* make({ cgroupParent: TEST_CGROUP_PARENT })
  const handle = yield* runner.start(yield* runner.create(spec))
  process.stdout.write(`${JSON.stringify(handle)}\n`)
  yield* Effect.never
})

Effect.runPromise(Effect.scoped(program)).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`)
  process.exitCode = 1
})
