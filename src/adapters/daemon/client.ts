// The CLI's side of the daemon socket. Refuses a socket owned by another user; starts the daemon on
// demand (like tmux) when nothing listens yet.
import { spawn } from "node:child_process"
import { existsSync, mkdirSync, openSync, statSync } from "node:fs"
import { createConnection } from "node:net"
import { userInfo } from "node:os"
import { Data, Effect } from "effect"
import type { DaemonRequest, Reply } from "./protocol.js"
import { daemonLog, socketPath } from "./paths.js"

export class DaemonSocketForeign extends Data.TaggedError("DaemonSocketForeign")<{ readonly socket: string; readonly owner: number; readonly uid: number }> {
  override get message() {
    return `${this.socket} is owned by uid ${this.owner}, not by you (uid ${this.uid}); refusing to talk to another user's daemon`
  }
}

export class DaemonUnreachable extends Data.TaggedError("DaemonUnreachable")<{ readonly socket: string; readonly problem: string }> {
  override get message() {
    return `cannot reach the daemon at ${this.socket}: ${this.problem}`
  }
}

/** A failure the daemon reported, carried to the CLI with its tag and message. */
export class DaemonError extends Data.TaggedError("DaemonError")<{ readonly tag: string; readonly message: string }> {}

const checkOwner = (socket: string) => {
  const uid = process.getuid?.() ?? 0
  const st = statSync(socket)
  return st.uid === uid ? null : new DaemonSocketForeign({ socket, owner: st.uid, uid })
}

const roundTrip = (socket: string, request: DaemonRequest) =>
  Effect.async<Reply, DaemonUnreachable>((resume) => {
    const conn = createConnection(socket)
    let buffer = ""
    let done = false
    const finish = (effect: Effect.Effect<Reply, DaemonUnreachable>) => {
      if (done) return
      done = true
      conn.destroy()
      resume(effect)
    }
    conn.once("connect", () => conn.write(JSON.stringify({ id: 1, request, operator: userInfo().username }) + "\n"))
    conn.on("data", (chunk) => {
      buffer += chunk.toString("utf8")
      const nl = buffer.indexOf("\n")
      if (nl >= 0) finish(Effect.try({ try: () => JSON.parse(buffer.slice(0, nl)) as Reply, catch: () => new DaemonUnreachable({ socket, problem: "unreadable reply" }) }))
    })
    conn.once("error", (e: NodeJS.ErrnoException) => finish(Effect.fail(new DaemonUnreachable({ socket, problem: e.code ?? e.message }))))
    conn.once("close", () => finish(Effect.fail(new DaemonUnreachable({ socket, problem: "the daemon closed the connection" }))))
    return Effect.sync(() => conn.destroy())
  })

const startDaemon = (dataDir: string, entry: string) =>
  Effect.sync(() => {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    const log = openSync(daemonLog(dataDir), "a", 0o600)
    const child = spawn(process.execPath, [...process.execArgv, entry, "serve", "--data-dir", dataDir], { detached: true, stdio: ["ignore", log, log], env: process.env })
    child.unref()
  })

export interface CallOptions {
  readonly autoStart: boolean
  /** the CLI's entry script, to start the daemon with the same runtime */
  readonly entry: string
}

export const callDaemon = (dataDir: string, request: DaemonRequest, options: CallOptions) =>
  Effect.gen(function* () {
    const socket = socketPath(dataDir)
    if (existsSync(socket)) {
      const foreign = checkOwner(socket)
      if (foreign) return yield* Effect.fail(foreign)
    }
    let reply = yield* Effect.either(roundTrip(socket, request))
    if (reply._tag === "Left" && options.autoStart && ["ENOENT", "ECONNREFUSED"].includes(reply.left.problem)) {
      yield* startDaemon(dataDir, options.entry)
      for (let i = 0; i < 100 && reply._tag === "Left"; i++) {
        yield* Effect.sleep("100 millis")
        if (existsSync(socket)) {
          const foreign = checkOwner(socket)
          if (foreign) return yield* Effect.fail(foreign)
          reply = yield* Effect.either(roundTrip(socket, request))
        }
      }
      if (reply._tag === "Left")
        return yield* Effect.fail(new DaemonUnreachable({ socket, problem: `the daemon did not start within 10 s; see ${daemonLog(dataDir)}` }))
    }
    if (reply._tag === "Left") return yield* Effect.fail(reply.left)
    const r = reply.right
    if (!r.ok) return yield* Effect.fail(new DaemonError({ tag: r.error?.tag ?? "Error", message: r.error?.message ?? "failed" }))
    return r.result
  })
