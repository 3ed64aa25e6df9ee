// Stands in for a `hydravisor serve` killed with SIGKILL: on the data dir argv[2], launches sandbox
// "victim", starts a long command in it, prints the sandbox's id as one JSON line once the command is
// in the ledger, then waits to be killed.
import { Effect } from "effect"
import { SandboxService } from "../../../src/adapters/sandbox/sandbox-service.js"
import { operator, serviceLayer, tinyTemplate } from "./service-fixture.js"

const dataDir = process.argv[2] ?? ""

const program = Effect.gen(function* () {
  const sandboxes = yield* SandboxService
  const { id } = yield* sandboxes.launch({ template: tinyTemplate, name: "victim", actor: operator })
  yield* Effect.fork(sandboxes.exec("victim", { argv: ["sleep", "300"] }, operator))
  while ((yield* sandboxes.inspect("victim")).runningExecs === 0) yield* Effect.sleep("10 millis")
  process.stdout.write(`${JSON.stringify({ id })}\n`)
  yield* Effect.never
})

Effect.runPromise(program.pipe(Effect.provide(serviceLayer(dataDir)), Effect.scoped)).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`)
  process.exitCode = 1
})
