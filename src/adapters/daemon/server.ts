// The daemon's socket: mode 0600 under a 0700 runtime dir; each line a request, each answered with
// one line. A request that does not decode is answered with an error naming what was wrong.
import { chmodSync, existsSync, mkdirSync, rmSync } from "node:fs"
import { answers, listenPrivately } from "./unix-socket.js"
import type { Server, Socket } from "node:net"
import { dirname } from "node:path"
import { Data, Effect, Either, Runtime } from "effect"
import { decodeEnvelope, decodeRequest, type DaemonRequest, type Reply } from "./protocol.js"

export class DaemonAlreadyRunning extends Data.TaggedError("DaemonAlreadyRunning")<{ readonly socket: string }> {
  override get message() {
    return `a daemon is already listening on ${this.socket}`
  }
}

export class SocketUnavailable extends Data.TaggedError("SocketUnavailable")<{ readonly socket: string; readonly problem: string }> {
  override get message() {
    return `${this.socket}: ${this.problem}`
  }
}

export type Handler = (request: DaemonRequest, operator: string) => Effect.Effect<unknown, unknown>


const errorOf = (e: unknown): { tag: string; message: string } => {
  const tag = typeof e === "object" && e !== null && "_tag" in e ? String((e as { _tag: unknown })._tag) : "Error"
  const message = typeof e === "object" && e !== null && "message" in e ? String((e as { message: unknown }).message) : String(e)
  return { tag, message }
}

export const serveSocket = (socket: string, handler: Handler) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    mkdirSync(dirname(socket), { recursive: true, mode: 0o700 })
    chmodSync(dirname(socket), 0o700)
    if (existsSync(socket)) {
      if (yield* Effect.promise(() => answers(socket))) return yield* Effect.fail(new DaemonAlreadyRunning({ socket }))
      rmSync(socket, { force: true })
    }
    const connections = new Set<Socket>()
    const onConnection = (conn: Socket) => {
      connections.add(conn)
      conn.on("close", () => connections.delete(conn))
      conn.on("error", () => conn.destroy())
      let buffer = ""
      conn.on("data", (chunk) => {
        buffer += chunk.toString("utf8")
        if (buffer.length > 64 * 1024 * 1024) return conn.destroy()
        let nl: number
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl)
          buffer = buffer.slice(nl + 1)
          respond(conn, line)
        }
      })
    }
    const send = (conn: Socket, reply: Reply) => {
      if (!conn.destroyed) conn.write(JSON.stringify(reply) + "\n")
    }
    const respond = (conn: Socket, line: string) => {
      const envelope = decodeEnvelope(line)
      if (Either.isLeft(envelope)) return send(conn, { id: -1, ok: false, error: { tag: "BadRequest", message: `not a request: ${envelope.left.message.split("\n")[0]}` } })
      const { id, request, operator } = envelope.right
      const decoded = decodeRequest(request)
      if (Either.isLeft(decoded)) return send(conn, { id, ok: false, error: { tag: "BadRequest", message: decoded.left.message.split("\n").slice(0, 4).join(" ") } })
      Runtime.runCallback(runtime)(handler(decoded.right, operator), {
        onExit: (exit) =>
          exit._tag === "Success"
            ? send(conn, { id, ok: true, result: exit.value })
            : send(conn, { id, ok: false, error: exit.cause._tag === "Fail" ? errorOf(exit.cause.error) : { tag: "InternalError", message: String(exit.cause) } })
      })
    }
    const server: Server = yield* listenPrivately(socket, onConnection, connections, (problem) => new SocketUnavailable({ socket, problem }))
    return server
  })
