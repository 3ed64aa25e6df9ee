// `hydravisor serve`: runs the daemon in the foreground (the CLI starts it on demand otherwise).
import { Command } from "@effect/cli"
import { Effect } from "effect"
import { daemonLayer, runDaemon } from "../../adapters/daemon/daemon.js"
import { cliConfig, ledgerOptionsOf } from "../config.js"
import { resolveDataDir } from "../data-dir.js"
import { dataDirOption } from "../options.js"

export const serveCommand = Command.make("serve", { dataDir: dataDirOption }, (o) =>
  Effect.gen(function* () {
    const dataDir = resolveDataDir(o.dataDir)
    const { config } = yield* cliConfig()
    const options = { dataDir, config, ledger: ledgerOptionsOf(config), log: (line: string) => console.error(`${new Date().toISOString()} ${line}`) }
    yield* runDaemon(options).pipe(Effect.scoped, Effect.provide(daemonLayer(options)))
  })
).pipe(Command.withDescription("Run the daemon: owns the ledger writer and the runners, listens on a 0600 unix socket; SIGTERM stops every sandbox (recorded) and exits."))
