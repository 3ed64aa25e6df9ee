// MCP over the daemon's second unix socket (mode 0600, beside the CLI's): what `hydravisor mcp
// --stdio` bridges an agent's stdin/stdout to. A connection starts with one handshake line,
// `{"agent": "A" | null, "token": "…"}`, answered `{"ok": true, "agent": "A"}` or `{"ok": false,
// "error": "…"}`; after that it carries newline-delimited JSON-RPC, as stdio does.
import { listenPrivately } from "../daemon/unix-socket.js"
import { randomUUID } from "node:crypto"
import { chmodSync, existsSync, mkdirSync, rmSync } from "node:fs"
import type { Socket } from "node:net"
import { dirname } from "node:path"
import { Data, Effect, Runtime } from "effect"
import { ReadBuffer, serializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import { socketPath } from "../daemon/paths.js"
import type { McpCore } from "./mcp-server.js"

export class McpSocketUnavailable extends Data.TaggedError("McpSocketUnavailable")<{ readonly socket: string; readonly problem: string }> {
  override get message() {
    return `${this.socket}: ${this.problem}`
  }
}

export const mcpSocketPath = (dataDir: string, env: NodeJS.ProcessEnv = process.env): string => socketPath(dataDir, env).replace(/\.sock$/, ".mcp.sock")

const MAX_HANDSHAKE = 16 * 1024
const HANDSHAKE_TIMEOUT_MS = 10_000

export interface Handshake {
  readonly agent: string | null
  readonly token: string | undefined
}

const parseHandshake = (line: string): Handshake | null => {
  try {
    const value = JSON.parse(line) as unknown
    if (typeof value !== "object" || value === null) return null
    const { agent, token } = value as Record<string, unknown>
    return { agent: typeof agent === "string" ? agent : null, token: typeof token === "string" ? token : undefined }
  } catch {
    return null
  }
}

/** JSON-RPC over a connected socket, one message per line; `pending` is what came after the handshake. */
export const socketTransport = (socket: Socket, pending: Buffer): Transport => {
  const buffer = new ReadBuffer()
  let closed = false
  const transport: Transport = {
    start: async () => {
      const drain = () => {
        for (;;) {
          let message: JSONRPCMessage | null
          try {
            message = buffer.readMessage()
          } catch (e) {
            transport.onerror?.(e instanceof Error ? e : new Error(String(e)))
            continue
          }
          if (message === null) break
          transport.onmessage?.(message)
        }
      }
      socket.on("data", (chunk: Buffer) => {
        buffer.append(chunk)
        drain()
      })
      socket.on("error", (e) => transport.onerror?.(e))
      socket.on("close", () => void transport.close())
      if (pending.length > 0) {
        buffer.append(pending)
        drain()
      }
    },
    send: (message) =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve()
        socket.write(serializeMessage(message), () => resolve())
      }),
    close: async () => {
      if (closed) return
      closed = true
      buffer.clear()
      socket.destroy()
      transport.onclose?.()
    }
  }
  return transport
}

/** Serves MCP on `socket` until the scope closes. */
export const serveMcpSocket = (socket: string, core: McpCore, log: (line: string) => void) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    mkdirSync(dirname(socket), { recursive: true, mode: 0o700 })
    if (existsSync(socket)) rmSync(socket, { force: true })
    const connections = new Set<Socket>()

    const onConnection = (conn: Socket) => {
      connections.add(conn)
      conn.on("close", () => connections.delete(conn))
      conn.on("error", () => conn.destroy())
      let head = Buffer.alloc(0)
      const timer = setTimeout(() => conn.destroy(), HANDSHAKE_TIMEOUT_MS)
      const reply = (value: unknown) => conn.write(JSON.stringify(value) + "\n")
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk])
        const nl = head.indexOf(0x0a)
        if (nl < 0) {
          if (head.length > MAX_HANDSHAKE) conn.destroy()
          return
        }
        conn.off("data", onData)
        conn.pause()
        clearTimeout(timer)
        const handshake = parseHandshake(head.subarray(0, nl).toString("utf8"))
        const rest = head.subarray(nl + 1)
        if (handshake === null) {
          reply({ ok: false, error: "the first line must be the handshake {\"agent\": …, \"token\": …}" })
          conn.end()
          return
        }
        Runtime.runCallback(runtime)(core.access.authenticate(handshake.token, handshake.agent, { transport: "stdio", remote: null }), {
          onExit: (exit) => {
            if (exit._tag === "Failure") {
              const message = exit.cause._tag === "Fail" ? exit.cause.error.message : "authentication failed"
              reply({ ok: false, error: `access denied: ${message}` })
              conn.end()
              return
            }
            const agent = exit.value
            reply({ ok: true, agent: agent.id })
            core
              .connect(socketTransport(conn, rest), { agent, transport: "stdio", session: randomUUID(), remote: null })
              .then(() => conn.resume())
              .catch((e: unknown) => {
                log(`MCP connection failed: ${e instanceof Error ? e.message : String(e)}`)
                conn.destroy()
              })
          }
        })
      }
      conn.on("data", onData)
    }

    yield* listenPrivately(socket, onConnection, connections, (problem) => new McpSocketUnavailable({ socket, problem }))
  })
