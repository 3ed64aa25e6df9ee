// The server side of MCP's streamable HTTP transport for one session, on Node's own request and
// response. The SDK's transport does the same through Web Request/Response objects (~0.5 ms of
// conversions and zod parses per call); this one answers POSTs with JSON, serves the optional GET
// stream for messages the server starts, and ends the session on DELETE. Status codes, JSON-RPC
// error codes and messages are the SDK's, so clients see the same answers.
import type { IncomingMessage, ServerResponse } from "node:http"
import { Either } from "effect"
import { requestBodyTooLargeMessage, MAX_BATCH_SIZE } from "@modelcontextprotocol/sdk/server/requestBody.js"
import { isJsonContentType } from "@modelcontextprotocol/sdk/shared/mediaType.js"
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js"
import { SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCMessage, type RequestId } from "@modelcontextprotocol/sdk/types.js"
import { decodeMessage, kindOf, type JsonRpcKind } from "./json-rpc.js"

export interface StreamableHttpOptions {
  readonly sessionId: () => string
  readonly maxBodyBytes: number
  readonly onSessionStarted: (id: string) => void
  readonly onSessionEnded: (id: string) => void
}

type Refusal = { readonly status: number; readonly code: number; readonly message: string; readonly data?: string }

/** A POST waiting for the answers to the requests it carried (answered together, as the SDK does). */
interface PendingPost {
  readonly res: ServerResponse
  readonly ids: ReadonlyArray<RequestId>
  readonly answers: Map<RequestId, JSONRPCMessage>
}

/** A JSON answer, unless one was already sent or the client has gone. */
export const writeJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  if (res.headersSent || res.destroyed) return
  res.writeHead(status, { "content-type": "application/json", ...headers })
  res.end(JSON.stringify(body))
}

/** A JSON-RPC error answer with no id (the request was refused before any method ran). */
export const refuse = (res: ServerResponse, refusal: Refusal, headers: Record<string, string> = {}) =>
  writeJson(res, refusal.status, { jsonrpc: "2.0", error: { code: refusal.code, message: refusal.message, ...(refusal.data !== undefined ? { data: refusal.data } : {}) }, id: null }, headers)

/** The body of a JSON POST, parsed; a refusal when it is too large or not JSON. */
const readBody = (req: IncomingMessage, maxBytes: number): Promise<Either.Either<unknown, Refusal>> => {
  const tooLarge = Either.left<Refusal>({ status: 413, code: -32000, message: requestBodyTooLargeMessage(maxBytes) })
  if (Number(req.headers["content-length"]) > maxBytes) return Promise.resolve(tooLarge)
  return new Promise((resolve) => {
    const chunks: Array<Buffer> = []
    let size = 0
    req.on("data", (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        req.removeAllListeners("data")
        req.resume()
        return resolve(tooLarge)
      }
      chunks.push(chunk)
    })
    req.once("end", () => {
      if (size > maxBytes) return
      try {
        resolve(Either.right(JSON.parse(Buffer.concat(chunks).toString("utf8"))))
      } catch {
        resolve(Either.left({ status: 400, code: -32700, message: "Parse error: Invalid JSON" }))
      }
    })
    req.once("error", () => resolve(Either.left({ status: 400, code: -32700, message: "Parse error: the request body could not be read" })))
  })
}

const isInitialize = (kind: JsonRpcKind, message: JSONRPCMessage) => kind === "request" && (message as { method: string }).method === "initialize"

export class StreamableHttpSession implements Transport {
  sessionId: string | undefined = undefined
  onmessage?: Transport["onmessage"]
  onclose?: Transport["onclose"]
  onerror?: Transport["onerror"]
  private started = false
  private closed = false
  private stream: ServerResponse | null = null
  private readonly pending = new Map<RequestId, PendingPost>()

  constructor(private readonly options: StreamableHttpOptions) {}

  start(): Promise<void> {
    if (this.started) return Promise.reject(new Error("this MCP HTTP session was already started"))
    this.started = true
    return Promise.resolve()
  }

  /** Serves one HTTP request of this session (the caller checked the token and the session's owner). */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.closed) return refuse(res, { status: 404, code: -32001, message: "Session not found" })
    if (req.method === "POST") return this.post(req, res)
    if (req.method === "GET") return this.get(req, res)
    if (req.method === "DELETE") return this.delete(req, res)
    return refuse(res, { status: 405, code: -32000, message: "Method not allowed." }, { allow: "GET, POST, DELETE" })
  }

  private sessionRefusal(req: IncomingMessage): Refusal | null {
    if (this.sessionId === undefined) return { status: 400, code: -32000, message: "Bad Request: Server not initialized" }
    const given = req.headers["mcp-session-id"]
    if (typeof given !== "string" || given === "") return { status: 400, code: -32000, message: "Bad Request: Mcp-Session-Id header is required" }
    if (given !== this.sessionId) return { status: 404, code: -32001, message: "Session not found" }
    const version = req.headers["mcp-protocol-version"]
    if (typeof version === "string" && !SUPPORTED_PROTOCOL_VERSIONS.includes(version))
      return { status: 400, code: -32000, message: `Bad Request: Unsupported protocol version: ${version} (supported versions: ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})` }
    return null
  }

  private async post(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const accept = req.headers.accept ?? ""
    // Accept is a list, so a substring test is its meaning; Content-Type is parsed.
    if (!accept.includes("application/json") || !accept.includes("text/event-stream"))
      return refuse(res, { status: 406, code: -32000, message: "Not Acceptable: Client must accept both application/json and text/event-stream" })
    if (!isJsonContentType(req.headers["content-type"] ?? null))
      return refuse(res, { status: 415, code: -32000, message: "Unsupported Media Type: Content-Type must be application/json" })
    const body = await readBody(req, this.options.maxBodyBytes)
    if (Either.isLeft(body)) return refuse(res, body.left)
    const raw = body.right
    if (Array.isArray(raw) && raw.length > MAX_BATCH_SIZE)
      return refuse(res, { status: 400, code: -32600, message: `Invalid Request: Batch must not exceed ${MAX_BATCH_SIZE} messages` })
    const messages: Array<{ readonly kind: JsonRpcKind; readonly message: JSONRPCMessage }> = []
    for (const value of Array.isArray(raw) ? raw : [raw]) {
      const decoded = decodeMessage(value)
      if (Either.isLeft(decoded)) return refuse(res, { status: 400, code: -32700, message: "Parse error: Invalid JSON-RPC message", data: decoded.left })
      messages.push(decoded.right as { kind: JsonRpcKind; message: JSONRPCMessage })
    }
    if (this.closed) return refuse(res, { status: 404, code: -32001, message: "Session not found" })
    if (messages.some((m) => isInitialize(m.kind, m.message))) {
      if (this.sessionId !== undefined) return refuse(res, { status: 400, code: -32600, message: "Invalid Request: Server already initialized" })
      if (messages.length > 1) return refuse(res, { status: 400, code: -32600, message: "Invalid Request: Only one initialization request is allowed" })
      this.sessionId = this.options.sessionId()
      this.options.onSessionStarted(this.sessionId)
    } else {
      const refusal = this.sessionRefusal(req)
      if (refusal !== null) return refuse(res, refusal)
    }
    const ids = messages.flatMap((m) => (m.kind === "request" ? [(m.message as { id: RequestId }).id] : []))
    // An answer is matched to its request by id: two requests under one id could not both be answered.
    const taken = ids.find((id, i) => this.pending.has(id) || ids.indexOf(id) !== i)
    if (taken !== undefined)
      return refuse(res, { status: 400, code: -32600, message: `Invalid Request: request id ${JSON.stringify(taken)} is already in use by a request not yet answered` })
    if (ids.length === 0) {
      for (const m of messages) this.onmessage?.(m.message)
      res.writeHead(202).end()
      return
    }
    const post: PendingPost = { res, ids, answers: new Map() }
    for (const id of ids) this.pending.set(id, post)
    // A client that goes away is not answered; its requests still run and are recorded.
    res.once("close", () => {
      for (const id of ids) if (this.pending.get(id) === post) this.pending.delete(id)
    })
    for (const m of messages) this.onmessage?.(m.message)
  }

  private get(req: IncomingMessage, res: ServerResponse): void {
    if (!(req.headers.accept ?? "").includes("text/event-stream"))
      return refuse(res, { status: 406, code: -32000, message: "Not Acceptable: Client must accept text/event-stream" })
    const refusal = this.sessionRefusal(req)
    if (refusal !== null) return refuse(res, refusal)
    if (this.stream !== null) return refuse(res, { status: 409, code: -32000, message: "Conflict: Only one SSE stream is allowed per session" })
    this.stream = res
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache, no-transform", connection: "keep-alive", "mcp-session-id": this.sessionId! })
    res.flushHeaders()
    res.once("close", () => {
      if (this.stream === res) this.stream = null
    })
  }

  private async delete(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal = this.sessionRefusal(req)
    if (refusal !== null) return refuse(res, refusal)
    this.options.onSessionEnded(this.sessionId!)
    res.writeHead(200).end()
    await this.close()
  }

  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const kind = kindOf(message)
    const answer = kind === "result" || kind === "error"
    const id = answer ? (message as { id?: RequestId }).id : options?.relatedRequestId
    if (id === undefined) {
      if (answer) return Promise.reject(new Error("an answer without a request id has no stream to go on"))
      // Messages the server starts go on the GET stream when the client keeps one open.
      this.stream?.write(`event: message\ndata: ${JSON.stringify(message)}\n\n`)
      return Promise.resolve()
    }
    const post = this.pending.get(id)
    // With JSON answers, notifications about a request have no stream (the SDK drops them too); an
    // answer to a client that went away is dropped.
    if (post === undefined || !answer) return Promise.resolve()
    post.answers.set(id, message)
    if (post.answers.size < post.ids.length) return Promise.resolve()
    for (const done of post.ids) this.pending.delete(done)
    const answers = post.ids.map((i) => post.answers.get(i))
    writeJson(post.res, 200, answers.length === 1 ? answers[0] : answers, this.sessionId === undefined ? {} : { "mcp-session-id": this.sessionId })
    return Promise.resolve()
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve()
    this.closed = true
    for (const post of new Set(this.pending.values())) refuse(post.res, { status: 404, code: -32001, message: "Session not found" })
    this.pending.clear()
    this.stream?.end()
    this.stream = null
    this.onclose?.()
    return Promise.resolve()
  }
}
