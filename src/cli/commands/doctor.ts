// `hydravisor doctor`: checks the host for what each runner and monitor needs.
import { Command } from "@effect/cli"
import { Effect } from "effect"
import { containerdRuntime, dataDirCheck, runDoctor } from "../../adapters/host/doctor.js"
import { ExitWith } from "../errors.js"
import { resolveDataDir } from "../data-dir.js"
import { dataDirOption, jsonOption } from "../options.js"
import { printJson, printTable, say } from "../output.js"

export const doctorCommand = Command.make("doctor", { json: jsonOption, dataDir: dataDirOption }, (o) =>
  Effect.gen(function* () {
    const checks = [...(yield* runDoctor), dataDirCheck(resolveDataDir(o.dataDir))]
    const usable = checks.filter((c) => c.required).every((c) => c.ok)
    if (o.json) yield* printJson({ defaultRunnerUsable: usable, containerdRuntime: yield* containerdRuntime, checks })
    else {
      yield* printTable(["CHECK", "", "NEEDED FOR", "DETAIL"], checks.map((c) => [c.name, c.ok ? "ok" : c.required ? "MISSING" : "missing", c.needed, c.detail]))
      const fixes = checks.filter((c) => !c.ok && c.fix)
      if (fixes.length > 0) yield* say(["", "To fix:", ...fixes.map((c) => `  ${c.name}: ${c.fix}`)].join("\n"))
      yield* say(usable ? "\nThe default runner (bwrap) can work on this host." : "\nThe default runner (bwrap) cannot work on this host until the MISSING items are fixed.")
    }
    if (!usable) return yield* Effect.fail(new ExitWith(1))
  })
).pipe(Command.withDescription("Check this host for what each runner and monitor needs; exits 1 when the default runner cannot work."))
