// `hydravisor mcp`: the daemon with MCP. It builds the same layers as `serve` (one ledger writer per
// data dir), with the correlating Ledger in front of the writer, reconciles, answers the CLI on the
// daemon socket, and serves MCP on its own unix socket (for `mcp --stdio` bridges) and, when asked,
// over streamable HTTP. On SIGTERM it stops every sandbox (recorded) and exits, as `serve` does.
import { join } from "node:path"
import { Effect, Layer } from "effect"
import { dispatch, type DaemonOptions } from "../daemon/daemon.js"
import { socketPath } from "../daemon/paths.js"
import { serveSocket } from "../daemon/server.js"
import { sensitiveFields } from "../../domain/events/catalogue.js"
import { agentEvents } from "../../domain/events/agent-events.js"
import { layer as bwrapRunnerLayer } from "../../runners/bwrap/bwrap-runner.js"
import type { Runner } from "../../runners/runner.js"
import type { AdHocAgent } from "../agents/agent-registry.js"
import { LedgerLive } from "../ledger/ledger.js"
import { DAEMON, SandboxService, SandboxServiceLive } from "../sandbox/sandbox-service.js"
import { SqliteStoreLive } from "../store/sqlite/sqlite-store.js"
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

const agentSensitive = new Map<string, ReadonlyArray<string>>(agentEvents.map((d) => [d.type, d.sensitive]))

/** The events this host writes are sealed right even before the catalogue lists them. */
const sensitiveOf = (type: string) => agentSensitive.get(type) ?? sensitiveFields(type)

/** `daemonLayer` of the daemon, with every append made inside a tool call carrying that call's correlation id. */
export const mcpHostLayer = (options: DaemonOptions, runner: Layer.Layer<Runner> = bwrapRunnerLayer()) => {
  const store = SqliteStoreLive({ file: join(options.dataDir, "ledger.db") })
  const writer = LedgerLive({ dataDir: options.dataDir, sensitiveFields: sensitiveOf, ...options.ledger }).pipe(Layer.provide(store))
  const base = Layer.mergeAll(store, CorrelatingLedger.pipe(Layer.provide(writer)), runner)
  return SandboxServiceLive({ dataDir: options.dataDir, security: options.config.security }).pipe(Layer.provideMerge(base))
}

/** Runs the daemon with MCP until interrupted. */
export const runMcpHost = (options: McpHostOptions) =>
  Effect.gen(function* () {
    const service = yield* SandboxService
    const report = yield* service.reconcile(DAEMON)
    options.log(`reconciled: ${report.alive.length} alive, ${report.dead.length} found dead, ${report.interrupted.length} interrupted`)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => options.log("shutting down: stopping every sandbox")).pipe(
        Effect.zipRight(service.stopAll("daemon shutting down", DAEMON)),
        Effect.tap((stopped) => Effect.sync(() => options.log(`stopped ${stopped.length} sandbox(es); exiting`))),
        Effect.ignore
      )
    )
    const core = yield* makeMcpCore({ dataDir: options.dataDir, config: options.config, adHoc: options.adHoc, log: options.log })
    const socket = socketPath(options.dataDir)
    yield* serveSocket(socket, dispatch(service, options.config))
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
