// A TCP relay in front of the double's gRPC server, so a test can cut every client connection at a
// chosen moment, as a crashed server or a broken network would, while the server stays up.
import { createConnection, createServer, type AddressInfo, type Socket } from "node:net"

export interface ConnectionCutter {
  readonly port: number
  /** Destroys every open client connection (both directions); new connections are accepted. */
  readonly cutAll: () => number
  readonly close: () => Promise<void>
}

export const startRelay = (targetPort: number): Promise<ConnectionCutter> =>
  new Promise((resolve, reject) => {
    const pairs = new Set<readonly [Socket, Socket]>()
    const server = createServer((client) => {
      const upstream = createConnection({ host: "127.0.0.1", port: targetPort })
      client.setNoDelay(true)
      upstream.setNoDelay(true)
      const pair = [client, upstream] as const
      pairs.add(pair)
      const end = () => {
        pairs.delete(pair)
        client.destroy()
        upstream.destroy()
      }
      client.on("error", end).on("close", end)
      upstream.on("error", end).on("close", end)
      client.pipe(upstream)
      upstream.pipe(client)
    })
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port
      resolve({
        port,
        cutAll: () => {
          const n = pairs.size
          for (const [client, upstream] of [...pairs]) {
            client.destroy()
            upstream.destroy()
          }
          pairs.clear()
          return n
        },
        close: () =>
          new Promise<void>((done) => {
            for (const [client, upstream] of pairs) {
              client.destroy()
              upstream.destroy()
            }
            server.close(() => done())
          })
      })
    })
  })
