// MCP over streamable HTTP at `/mcp`, on 127.0.0.1 unless told otherwise. Every request carries its
// agent's bearer token and is authenticated (401 + AccessDenied otherwise); a session belongs to the
// agent that opened it, and another agent's session id is answered like an unknown one.
import { randomUUID } from "node:crypto"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { Data, Effect, Exit, Runtime } from "effect"
import type { Server as McpProtocolServer } from "@modelcontextprotocol/sdk/server/index.js"
import type { Agent } from "../../domain/agents/agent.js"
import type { McpCore } from "./mcp-server.js"
import { refuse, StreamableHttpSession, writeJson } from "./streamable-http.js"
import type { Caller } from "./tool-context.js"

export class McpHttpUnavailable extends Data.TaggedError("McpHttpUnavailable")<{ readonly address: string; readonly problem: string }> {
  override get message() {
    return `cannot serve MCP on ${this.address}: ${this.problem}`
  }
}

export interface HttpOptions {
  readonly host: string
  /** 0: any free port (the one taken is returned). */
  readonly port: number
  readonly log: (line: string) => void
  readonly maxSessionsPerAgent?: number
  readonly idleSessionMs?: number
}

interface Session {
  readonly agent: Agent
  readonly transport: StreamableHttpSession
  server: McpProtocolServer | null
  lastSeen: number
}

const MAX_BODY_BYTES = 16 * 1024 * 1024
const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"])

const bearerOf = (header: string | undefined): string | undefined => {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "")
  return match?.[1]
}

export const serveHttp = (core: McpCore, options: HttpOptions) =>
  Effect.gen(function* () {
    const runtime = yield* Effect.runtime<never>()
    const sessions = new Map<string, Session>()
    const maxPerAgent = options.maxSessionsPerAgent ?? 64
    const idleMs = options.idleSessionMs ?? 30 * 60_000
    let port = options.port

    const closeSession = (id: string) => {
      const session = sessions.get(id)
      sessions.delete(id)
      void session?.server?.close().catch(() => undefined)
    }

    // A page in a browser could reach 127.0.0.1 under another name (DNS rebinding): only our own names are served.
    const hostAllowed = (host: string | undefined) =>
      !LOOPBACK.has(options.host) || (host !== undefined && [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`].includes(host.toLowerCase()))

    const handle = async (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? "/").split("?")[0]
      if (path !== "/mcp") return writeJson(res, 404, { error: "not found: the MCP endpoint is /mcp" })
      if (!hostAllowed(req.headers.host)) return refuse(res, { status: 403, code: -32000, message: `host '${req.headers.host ?? ""}' is not served here` })
      const remote = req.socket.remoteAddress ?? null
      const where = { transport: "http" as const, remote }
      const token = bearerOf(req.headers.authorization)
      let agent = core.access.admitNow(token, null)
      if (agent === null) {
        const authenticated = await Runtime.runPromiseExit(runtime)(core.access.authenticate(token, null, where))
        if (Exit.isFailure(authenticated)) {
          const message = authenticated.cause._tag === "Fail" ? authenticated.cause.error.message : "authentication failed"
          return refuse(res, { status: 401, code: -32001, message: `unauthorized: ${message}` }, { "www-authenticate": 'Bearer realm="hydravisor", error="invalid_token"' })
        }
        agent = authenticated.value
      }
      const sessionId = req.headers["mcp-session-id"]
      if (typeof sessionId === "string") {
        const session = sessions.get(sessionId)
        if (session !== undefined && session.agent.id !== agent.id)
          await Runtime.runPromise(runtime)(core.access.deny({ reason: "foreign-session", agentId: agent.id, message: "another agent's session" }, where, { authenticated: true }))
        if (session === undefined || session.agent.id !== agent.id) return refuse(res, { status: 404, code: -32001, message: "session not found" })
        session.lastSeen = Date.now()
        return session.transport.handle(req, res)
      }
      if (req.method !== "POST") return refuse(res, { status: 400, code: -32000, message: "no mcp-session-id header: start with an initialize request" })
      if ([...sessions.values()].filter((s) => s.agent.id === agent.id).length >= maxPerAgent)
        return refuse(res, { status: 429, code: -32000, message: `agent '${agent.id}' has ${maxPerAgent} open sessions; close some (HTTP DELETE) first` })
      const transport = new StreamableHttpSession({
        sessionId: () => randomUUID(),
        maxBodyBytes: MAX_BODY_BYTES,
        onSessionStarted: (id) => void sessions.set(id, session),
        onSessionEnded: (id) => closeSession(id)
      })
      const session: Session = { agent, transport, server: null, lastSeen: Date.now() }
      const caller: Caller = {
        agent,
        transport: "http",
        remote,
        get session() {
          return transport.sessionId ?? null
        }
      }
      session.server = await core.connect(transport, caller)
      await transport.handle(req, res)
      if (transport.sessionId === undefined) await session.server.close()
    }

    const server = yield* Effect.acquireRelease(
      Effect.async<Server, McpHttpUnavailable>((resume) => {
        const s = createServer((req, res) => {
          handle(req, res).catch((e: unknown) => {
            options.log(`MCP HTTP request failed: ${e instanceof Error ? e.message : String(e)}`)
            refuse(res, { status: 500, code: -32603, message: "internal error" })
          })
        })
        s.once("error", (e) => resume(Effect.fail(new McpHttpUnavailable({ address: `${options.host}:${options.port}`, problem: e.message }))))
        s.listen(options.port, options.host, () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.async<void>((resume) => {
          for (const id of [...sessions.keys()]) closeSession(id)
          s.closeAllConnections()
          s.close(() => resume(Effect.void))
        })
    )
    port = (server.address() as AddressInfo).port
    const sweep = setInterval(() => {
      const now = Date.now()
      for (const [id, session] of sessions) if (now - session.lastSeen > idleMs) closeSession(id)
    }, Math.min(60_000, idleMs))
    sweep.unref()
    yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(sweep)))
    const host = options.host.includes(":") ? `[${options.host}]` : options.host
    return { port, url: `http://${host}:${port}/mcp` }
  })
