// Verbs that change sandboxes go through the daemon, which is started on demand.
import { Effect, Option } from "effect"
import { callDaemon } from "../adapters/daemon/client.js"
import type { DaemonRequest } from "../adapters/daemon/protocol.js"
import { resolveDataDir } from "./data-dir.js"

/** Runs one request, with a spinner on stderr while it takes longer than a second. */
export const viaDaemon = (dataDirFlag: Option.Option<string>, request: DaemonRequest, label: string) =>
  Effect.gen(function* () {
    const dataDir = resolveDataDir(dataDirFlag)
    const entry = process.argv[1] ?? "hydravisor"
    const spinner = startSpinner(label)
    return yield* callDaemon(dataDir, request, { autoStart: true, entry }).pipe(Effect.ensuring(Effect.sync(spinner)))
  })

const startSpinner = (label: string) => {
  if (!process.stderr.isTTY) return () => {}
  const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
  let i = 0
  let shown = false
  const started = Date.now()
  const timer = setInterval(() => {
    if (Date.now() - started < 1000) return
    shown = true
    process.stderr.write(`\r${frames[i++ % frames.length]} ${label} (${((Date.now() - started) / 1000).toFixed(0)} s)\x1b[K`)
  }, 100)
  return () => {
    clearInterval(timer)
    if (shown) process.stderr.write("\r\x1b[K")
  }
}
