// `hydravisor config show`: every setting, its effective value and where it came from.
import { Command } from "@effect/cli"
import { Effect } from "effect"
import { formatSource } from "../../adapters/config/load-config.js"
import { cliConfig } from "../config.js"
import { resolveDataDir } from "../data-dir.js"
import { dataDirOption, jsonOption } from "../options.js"
import { printJson, printTable, say } from "../output.js"

const show = Command.make("show", { json: jsonOption, dataDir: dataDirOption }, (o) =>
  Effect.gen(function* () {
    const loaded = yield* cliConfig()
    const dataDir = resolveDataDir(o.dataDir)
    if (o.json) return yield* printJson({ file: loaded.file, fileFound: loaded.fileFound, dataDir, config: loaded.config, sources: Object.fromEntries(loaded.entries.map((e) => [e.key, formatSource(e.source)])) })
    yield* say(`config file: ${loaded.file}${loaded.fileFound ? "" : " (not present; defaults apply)"}\ndata dir:    ${dataDir}`)
    yield* printTable(["KEY", "VALUE", "SOURCE"], loaded.entries.map((e) => [e.key, e.value === undefined ? "-" : JSON.stringify(e.value), formatSource(e.source)]))
  })
).pipe(Command.withDescription("Print the effective configuration: defaults < ~/.config/hydravisor/config.yaml < HYDRAVISOR_* variables < flags."))

export const configCommand = Command.make("config").pipe(Command.withDescription("Hydravisor's configuration"), Command.withSubcommands([show]))
