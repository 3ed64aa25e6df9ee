// `hydravisor mcp --stdio`: joins an agent's stdin/stdout to the daemon's MCP socket, starting the
// daemon (as `hydravisor mcp --no-http`) when none runs, like the CLI does for its verbs. The bridge
// passes bytes through; authentication, tools and audit all happen in the daemon.
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, openSync, statSync } from "node:fs"
import { createConnection, type Socket } from "node:net"
import type { Readable, Writable } from "node:stream"
import { Data, Effect } from "effect"
import { daemonLog, socketPath } from "../daemon/paths.js"
import { answers } from "../daemon/unix-socket.js"
import { mcpSocketPath } from "./socket-endpoint.js"

export class McpBridgeFailed extends Data.TaggedError("McpBridgeFailed")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

export interface BridgeOptions {
  readonly dataDir: string
  readonly agent: string | null
  readonly token: string | undefined
  /** The CLI's entry script, to start the daemon with the same runtime. */
  readonly entry: string
  readonly input: Readable
  readonly output: Writable
}

const ownSocket = (socket: string) => {
  const uid = process.getuid?.() ?? 0
  const owner = statSync(socket).uid
  return owner === uid ? null : new McpBridgeFailed({ reason: `${socket} is owned by uid ${owner}, not by you (uid ${uid}); refusing to talk to another user's daemon` })
}

/** The daemon's MCP socket, once something answers on it. */
const daemonSocket = (dataDir: string, entry: string) =>
  Effect.gen(function* () {
    const socket = mcpSocketPath(dataDir)
    if (existsSync(socket) && (yield* Effect.promise(() => answers(socket)))) return socket
    if (yield* Effect.promise(() => answers(socketPath(dataDir))))
      return yield* new McpBridgeFailed({
        reason: `a daemon runs for ${dataDir} without MCP (started by \`hydravisor serve\` or another verb); stop it (SIGTERM) and start \`hydravisor mcp\`, which serves the CLI too`
      })
    yield* Effect.sync(() => {
      mkdirSync(dataDir, { recursive: true, mode: 0o700 })
      const log = openSync(daemonLog(dataDir), "a", 0o600)
      const child = spawn(process.execPath, [...process.execArgv, entry, "mcp", "--no-http", "--data-dir", dataDir], { detached: true, stdio: ["ignore", log, log], env: process.env })
      child.unref()
    })
    for (let i = 0; i < 200; i++) {
      yield* Effect.sleep("100 millis")
      if (existsSync(socket) && (yield* Effect.promise(() => answers(socket)))) return socket
    }
    return yield* new McpBridgeFailed({ reason: `the daemon did not start within 20 s; see ${daemonLog(dataDir)}` })
  })

/** Connects and hands over the token; the connection and what the daemon sent after its answer. */
const handshake = (socket: string, agent: string | null, token: string | undefined) =>
  Effect.async<{ conn: Socket; rest: Buffer }, McpBridgeFailed>((resume) => {
    const conn = createConnection(socket)
    let head = Buffer.alloc(0)
    const fail = (reason: string) => {
      conn.destroy()
      resume(Effect.fail(new McpBridgeFailed({ reason })))
    }
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk])
      const nl = head.indexOf(0x0a)
      if (nl < 0) return
      conn.off("data", onData)
      conn.off("close", onClose)
      conn.pause()
      let answer: { ok?: boolean; error?: string }
      try {
        answer = JSON.parse(head.subarray(0, nl).toString("utf8")) as { ok?: boolean; error?: string }
      } catch {
        return fail("the daemon sent an unreadable answer")
      }
      if (answer.ok !== true) return fail(answer.error ?? "access denied")
      resume(Effect.succeed({ conn, rest: head.subarray(nl + 1) }))
    }
    const onClose = () => fail("the daemon closed the connection")
    conn.once("connect", () => conn.write(JSON.stringify({ agent, token: token ?? null }) + "\n"))
    conn.on("data", onData)
    conn.once("error", (e: NodeJS.ErrnoException) => fail(`cannot reach the daemon at ${socket}: ${e.code ?? e.message}`))
    conn.on("close", onClose)
  })

export const bridgeStdio = (options: BridgeOptions) =>
  Effect.gen(function* () {
    const socket = yield* daemonSocket(options.dataDir, options.entry)
    const foreign = ownSocket(socket)
    if (foreign !== null) return yield* foreign
    const { conn, rest } = yield* handshake(socket, options.agent, options.token)
    yield* Effect.async<void>((resume) => {
      if (rest.length > 0) options.output.write(rest)
      conn.pipe(options.output, { end: false })
      options.input.pipe(conn)
      conn.resume()
      conn.on("error", () => conn.destroy())
      conn.once("close", () => resume(Effect.void))
    })
  })
