// `hydravisor config show`: every setting, its effective value and where it came from.
import { Command } from "@effect/cli"
import { Effect } from "effect"
import { formatSource } from "../../adapters/config/load-config.js"
import { cliConfig } from "../config.js"
import { jsonOption } from "../options.js"
import { printJson, printTable, say } from "../output.js"

const show = Command.make("show", { json: jsonOption }, (o) =>
  Effect.gen(function* () {
    const loaded = yield* cliConfig()
    if (o.json) return yield* printJson({ file: loaded.file, fileFound: loaded.fileFound, config: loaded.config, sources: Object.fromEntries(loaded.entries.map((e) => [e.key, formatSource(e.source)])) })
    yield* say(`config file: ${loaded.file}${loaded.fileFound ? "" : " (not present; defaults apply)"}`)
    yield* printTable(["KEY", "VALUE", "SOURCE"], loaded.entries.map((e) => [e.key, e.value === undefined ? "-" : JSON.stringify(e.value), formatSource(e.source)]))
  })
).pipe(Command.withDescription("Print the effective configuration: defaults < ~/.config/hydravisor/config.yaml < HYDRAVISOR_* variables < flags."))

export const configCommand = Command.make("config").pipe(Command.withDescription("Hydravisor's configuration"), Command.withSubcommands([show]))
