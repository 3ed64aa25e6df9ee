// `hydravisor mcp`: the daemon with MCP. It builds the same layers as `serve` (one ledger writer per
// data dir), with the correlating Ledger in front of the writer, reconciles, answers the CLI on the
// daemon socket, and serves MCP on its own unix socket (for `mcp --stdio` bridges) and, when asked,
// over streamable HTTP. On SIGTERM it stops every sandbox (recorded) and exits, as `serve` does.
import { Effect, Layer } from "effect"
import { daemonLayer, startDaemon, type DaemonOptions } from "../daemon/daemon.js"
import type { Runner } from "../../runners/runner.js"
import type { AdHocAgent } from "../agents/agent-registry.js"
import { CorrelatingLedger } from "./correlation.js"
import { serveHttp } from "./http-endpoint.js"
import { makeMcpCore } from "./mcp-server.js"
import { mcpSocketPath, serveMcpSocket } from "./socket-endpoint.js"

export interface McpHostOptions extends DaemonOptions {
  /** null: MCP only on the unix socket. */
  readonly http: { readonly host: string; readonly port: number } | null
  readonly adHoc: AdHocAgent | null
  /** Told where HTTP listens, once it does. */
  readonly onListening?: (endpoint: { readonly url: string; readonly port: number }) => void
}

/** `daemonLayer`, with every append made inside a tool call carrying that call's correlation id. */
export const mcpHostLayer = (options: DaemonOptions, runner?: Layer.Layer<Runner>) =>
  daemonLayer(options, {
    ...(runner ? { runner } : {}),
    frontLedger: (writer) => CorrelatingLedger.pipe(Layer.provide(writer))
  })

/** Runs the daemon with MCP until interrupted. */
export const runMcpHost = (options: McpHostOptions) =>
  Effect.gen(function* () {
    const { socket } = yield* startDaemon(options)
    const core = yield* makeMcpCore({ dataDir: options.dataDir, config: options.config, adHoc: options.adHoc, log: options.log })
    const mcpSocket = mcpSocketPath(options.dataDir)
    yield* serveMcpSocket(mcpSocket, core, options.log)
    options.log(`hydravisor daemon ${process.pid} listening on ${socket}, MCP on ${mcpSocket} (data dir ${options.dataDir})`)
    if (options.http !== null) {
      const endpoint = yield* serveHttp(core, { ...options.http, log: options.log })
      options.log(`MCP over streamable HTTP at ${endpoint.url}`)
      options.onListening?.(endpoint)
    }
    return yield* Effect.never
  })
