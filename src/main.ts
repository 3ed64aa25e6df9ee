// Entry point: parses the command line, runs the verb with the Node platform layers, and turns any
// failure into one line and an exit code (src/cli/errors.ts).
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { cli } from "./cli/app.js"
import { reportFailures } from "./cli/errors.js"

// `hydravisor list | head` closes the pipe early: that is the reader's choice, not an error.
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0)
    throw e
  })

cli(process.argv).pipe(reportFailures, Effect.provide(NodeContext.layer), (program) =>
  NodeRuntime.runMain(program, { disableErrorReporting: true, disablePrettyLogger: true })
)
