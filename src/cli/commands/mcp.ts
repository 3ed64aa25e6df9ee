// `hydravisor mcp`: the MCP server for agents. With --stdio, a bridge between the agent's stdin/stdout
// and the daemon (started on demand); otherwise the daemon itself in the foreground, serving the
// CLI, MCP bridges and (unless --no-http) streamable HTTP on --port or server.mcp_port.
import { Command, Options } from "@effect/cli"
import { Data, Effect, Either, Option, Schema } from "effect"
import { callDaemon } from "../../adapters/daemon/client.js"
import { socketPath } from "../../adapters/daemon/paths.js"
import { mcpHostLayer, runMcpHost } from "../../adapters/mcp/host.js"
import { answers } from "../../adapters/daemon/unix-socket.js"
import { bridgeStdio } from "../../adapters/mcp/stdio-bridge.js"
import { AgentId } from "../../domain/events/agent-events.js"
import { cliConfig, ledgerOptionsOf } from "../config.js"
import { resolveDataDir } from "../data-dir.js"
import { dataDirOption } from "../options.js"

class McpRefused extends Data.TaggedError("McpRefused")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

const options = {
  dataDir: dataDirOption,
  stdio: Options.boolean("stdio").pipe(Options.withDescription("speak MCP on stdin/stdout (for Claude Desktop, Claude Code and other MCP clients that start servers)")),
  port: Options.integer("port").pipe(Options.withDescription("HTTP port (default: server.mcp_port; 0: any free port)"), Options.optional),
  host: Options.text("host").pipe(Options.withDescription("address to listen on; anything but loopback exposes the tokens to the network"), Options.withDefault("127.0.0.1")),
  noHttp: Options.boolean("no-http").pipe(Options.withDescription("serve MCP only on the daemon's unix socket (what --stdio bridges start)")),
  agent: Options.text("agent").pipe(Options.withDescription("--stdio: the agent to act as (its token must match); HTTP: the id of the --auth-token agent"), Options.optional),
  authToken: Options.text("auth-token").pipe(
    Options.withDescription("--stdio: the agent's token (default $HYDRAVISOR_TOKEN); HTTP: also admit one ad-hoc agent holding this token"),
    Options.optional
  )
}

const agentIdOf = (value: string) =>
  Either.match(Schema.decodeUnknownEither(AgentId)(value), {
    onLeft: () => Effect.fail(new McpRefused({ reason: `invalid agent id '${value}'` })),
    onRight: Effect.succeed
  })

export const mcpCommand = Command.make("mcp", options, (o) =>
  Effect.gen(function* () {
    const dataDir = resolveDataDir(o.dataDir)
    const agent = Option.isSome(o.agent) ? yield* agentIdOf(o.agent.value) : null
    if (o.stdio) {
      if (Option.isSome(o.port) || o.noHttp) return yield* new McpRefused({ reason: "--stdio takes no --port or --no-http: it bridges to the daemon" })
      const token = Option.getOrUndefined(o.authToken) ?? process.env["HYDRAVISOR_TOKEN"]
      return yield* bridgeStdio({ dataDir, agent, token, entry: process.argv[1] ?? "hydravisor", input: process.stdin, output: process.stdout })
    }
    if (yield* Effect.promise(() => answers(socketPath(dataDir)))) {
      const ping = yield* Effect.either(callDaemon(dataDir, { _tag: "Ping" }, { autoStart: false, entry: "" }))
      const pid = Either.isRight(ping) ? ` (pid ${String((ping.right as { pid?: number }).pid)})` : ""
      return yield* new McpRefused({ reason: `a daemon already runs for ${dataDir}${pid}; the MCP server lives in the daemon, so stop that one (SIGTERM) and run \`hydravisor mcp\` in its place` })
    }
    const { config } = yield* cliConfig()
    const port = Option.getOrElse(o.port, () => config.server.mcp_port)
    if (port < 0 || port > 65535) return yield* new McpRefused({ reason: `--port ${port}: not a port number` })
    const log = (line: string) => console.error(`${new Date().toISOString()} ${line}`)
    if (!["127.0.0.1", "::1", "localhost"].includes(o.host) && !o.noHttp) log(`warning: listening on ${o.host}: bearer tokens travel unencrypted; put TLS in front`)
    const host = {
      dataDir,
      config,
      ledger: ledgerOptionsOf(config),
      log,
      http: o.noHttp ? null : { host: o.host, port },
      adHoc: Option.isSome(o.authToken) ? { id: agent ?? "ad-hoc", token: o.authToken.value } : null
    }
    yield* runMcpHost(host).pipe(Effect.scoped, Effect.provide(mcpHostLayer(host)))
  })
).pipe(
  Command.withDescription(
    "MCP server for agents: `mcp --stdio --agent A` (token in $HYDRAVISOR_TOKEN) bridges stdio to the daemon; `mcp --port 3000` runs the daemon with streamable HTTP on 127.0.0.1. Every call is recorded."
  )
)
