// Listening on a unix socket only its owner can use (created 0600, umask held while it appears),
// and closing it with every open connection, the socket file removed.
import { chmodSync, rmSync } from "node:fs"
import { createConnection, createServer, type Server, type Socket } from "node:net"
import { Effect } from "effect"

export const listenPrivately = <E>(socket: string, onConnection: (conn: Socket) => void, connections: ReadonlySet<Socket>, failed: (problem: string) => E) =>
  Effect.acquireRelease(
    Effect.async<Server, E>((resume) => {
      const server = createServer(onConnection)
      const previous = process.umask(0o177)
      server.once("error", (e) => {
        process.umask(previous)
        resume(Effect.fail(failed(e.message)))
      })
      server.listen(socket, () => {
        process.umask(previous)
        chmodSync(socket, 0o600)
        resume(Effect.succeed(server))
      })
    }),
    (server) =>
      Effect.async<void>((resume) => {
        for (const c of connections) c.destroy()
        server.close(() => {
          rmSync(socket, { force: true })
          resume(Effect.void)
        })
      })
  )

/** Whether something answers on a unix socket. */
export const answers = (socket: string) =>
  new Promise<boolean>((resolve) => {
    const c = createConnection(socket)
    c.once("connect", () => {
      c.destroy()
      resolve(true)
    })
    c.once("error", () => resolve(false))
  })
