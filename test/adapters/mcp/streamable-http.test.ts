// The streamable HTTP session transport against the SDK's own client over real HTTP on 127.0.0.1, and
// raw requests for what a well-behaved client never sends: each is answered as the SDK's transport
// answers it (status, JSON-RPC code, message).
import { randomUUID } from "node:crypto"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { z } from "zod"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js"
import { ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js"
import { StreamableHttpSession } from "../../../src/adapters/mcp/streamable-http.js"

let http: Server
let url: string
const sessions = new Map<string, { transport: StreamableHttpSession; server: McpServer }>()
/** Sessions their client ended; they stay in `sessions`, so what comes after reaches the closed transport. */
const ended = new Set<string>()

beforeAll(async () => {
  http = createServer(async (req, res) => {
    const id = req.headers["mcp-session-id"]
    const known = typeof id === "string" ? sessions.get(id) : undefined
    if (known !== undefined) return known.transport.handle(req, res)
    // as the daemon's endpoint does: an ended or unknown session is not found
    if (id !== undefined) return void res.writeHead(404).end()
    const transport = new StreamableHttpSession({
      sessionId: () => randomUUID(),
      maxBodyBytes: 64 * 1024,
      onSessionStarted: (sid) => void sessions.set(sid, { transport, server }),
      onSessionEnded: (sid) => void ended.add(sid)
    })
    const server = new McpServer({ name: "t", version: "1" }, { capabilities: { tools: { listChanged: true } } })
    server.registerTool("echo", { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: "text", text }] }))
    server.registerTool("wait", { inputSchema: { ms: z.number() } }, async ({ ms }) => {
      await new Promise((r) => setTimeout(r, ms))
      return { content: [{ type: "text", text: "waited" }] }
    })
    await server.connect(transport)
    await transport.handle(req, res)
  })
  await new Promise<void>((done) => http.listen(0, "127.0.0.1", done))
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`
})

afterAll(async () => {
  http.closeAllConnections()
  await new Promise((done) => http.close(done))
})

const initialize = (id: number | string = 1) => ({ jsonrpc: "2.0", id, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } })
const json = { "content-type": "application/json", accept: "application/json, text/event-stream" }
const post = (body: unknown, headers: Record<string, string> = {}) => fetch(url, { method: "POST", headers: { ...json, ...headers }, body: typeof body === "string" ? body : JSON.stringify(body) })
const errorOf = async (res: Response) => ((await res.json()) as { error: { code: number; message: string; data?: string } }).error

/** A session opened by hand: its id, and the headers that go with it. */
const open = async () => {
  const res = await post(initialize())
  expect(res.status).toBe(200)
  const sid = res.headers.get("mcp-session-id")!
  const headers = { "mcp-session-id": sid, "mcp-protocol-version": "2025-06-18" }
  expect((await post({ jsonrpc: "2.0", method: "notifications/initialized" }, headers)).status).toBe(202)
  return { sid, headers }
}

describe("StreamableHttpSession", () => {
  it("serves the SDK's client: tools listed and called, a server-started notification over its GET stream, the session ended with DELETE", async () => {
    const client = new Client({ name: "c", version: "1" })
    const transport = new StreamableHTTPClientTransport(new URL(url))
    let changed = false
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void (changed = true))
    await client.connect(transport)
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["echo", "wait"])
    expect(await client.callTool({ name: "echo", arguments: { text: "hi" } })).toMatchObject({ content: [{ type: "text", text: "hi" }] })
    // the client opens its GET stream after `initialized`, in the background: until it is there, the
    // server has nowhere to say anything, so it says it again
    const sid = transport.sessionId!
    for (let i = 0; i < 100 && !changed; i++) {
      sessions.get(sid)!.server.sendToolListChanged()
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(changed).toBe(true)
    await transport.terminateSession()
    expect(ended.has(sid)).toBe(true)
    await client.close()
    expect((await post({ jsonrpc: "2.0", id: 9, method: "tools/list" }, { "mcp-session-id": sid })).status).toBe(404)
  })

  it("answers a batch of two requests with both answers, in order", async () => {
    const { headers } = await open()
    const res = await post(
      [
        { jsonrpc: "2.0", id: "a", method: "tools/list" },
        { jsonrpc: "2.0", id: "b", method: "tools/call", params: { name: "echo", arguments: { text: "x" } } }
      ],
      headers
    )
    expect(res.status).toBe(200)
    const answers = (await res.json()) as Array<{ id: string }>
    expect(answers.map((a) => a.id)).toEqual(["a", "b"])
  })

  it("refuses what the SDK's transport refuses, with its status, code and message", async () => {
    const { sid, headers } = await open()
    const wrongAccept = await fetch(url, { method: "POST", headers: { ...headers, "content-type": "application/json", accept: "application/json" }, body: "{}" })
    expect([wrongAccept.status, (await errorOf(wrongAccept)).message]).toEqual([406, "Not Acceptable: Client must accept both application/json and text/event-stream"])
    const wrongType = await fetch(url, { method: "POST", headers: { ...headers, "content-type": "text/plain", accept: json.accept }, body: "{}" })
    expect(wrongType.status).toBe(415)
    const notJson = await post("{", headers)
    expect([notJson.status, (await errorOf(notJson)).code]).toEqual([400, -32700])
    const badMessage = await post({ jsonrpc: "2.0", id: 2, method: "tools/list", extra: 1 }, headers)
    const bad = await errorOf(badMessage)
    expect([badMessage.status, bad.code, bad.message]).toEqual([400, -32700, "Parse error: Invalid JSON-RPC message"])
    expect(bad.data).toMatch(/extra/)
    const bigBatch = await post(Array.from({ length: 101 }, (_, i) => ({ jsonrpc: "2.0", method: "notifications/progress", params: { i } })), headers)
    expect([bigBatch.status, (await errorOf(bigBatch)).code]).toEqual([400, -32600])
    const tooLarge = await post({ jsonrpc: "2.0", id: 3, method: "tools/list", params: { pad: "x".repeat(70 * 1024) } }, headers)
    expect(tooLarge.status).toBe(413)
    const again = await post(initialize(4), headers)
    expect([again.status, (await errorOf(again)).message]).toEqual([400, "Invalid Request: Server already initialized"])
    const noSession = await fetch(url, { method: "GET", headers: { accept: "text/event-stream" } })
    expect(noSession.status).toBe(400)
    const otherVersion = await post({ jsonrpc: "2.0", id: 5, method: "tools/list" }, { ...headers, "mcp-protocol-version": "1999-01-01" })
    expect(otherVersion.status).toBe(400)
    expect((await errorOf(otherVersion)).message).toMatch(/^Bad Request: Unsupported protocol version: 1999-01-01/)
    const put = await fetch(url, { method: "PUT", headers })
    expect([put.status, put.headers.get("allow")]).toEqual([405, "GET, POST, DELETE"])
    const stream = await fetch(url, { method: "GET", headers: { ...headers, accept: "text/event-stream" } })
    expect([stream.status, stream.headers.get("content-type"), stream.headers.get("mcp-session-id")]).toEqual([200, "text/event-stream", sid])
    const second = await fetch(url, { method: "GET", headers: { ...headers, accept: "text/event-stream" } })
    expect(second.status).toBe(409)
    await stream.body?.cancel()
    // the session still serves after all of that
    const listed = await post({ jsonrpc: "2.0", id: 6, method: "tools/list" }, headers)
    expect(listed.status).toBe(200)
  })

  it("refuses two requests under one id, in one batch, instead of leaving the client without an answer", async () => {
    const { headers } = await open()
    const twice = await post(
      [
        { jsonrpc: "2.0", id: 7, method: "tools/list" },
        { jsonrpc: "2.0", id: 7, method: "tools/list" }
      ],
      headers
    )
    expect([twice.status, (await errorOf(twice)).message]).toEqual([400, "Invalid Request: request id 7 is already in use by a request not yet answered"])
    const once = await post({ jsonrpc: "2.0", id: 7, method: "tools/list" }, headers)
    expect(once.status).toBe(200)
  })

  it("refuses a request under the id of one still running, and answers the running one", async () => {
    const { headers } = await open()
    const running = post({ jsonrpc: "2.0", id: 8, method: "tools/call", params: { name: "wait", arguments: { ms: 300 } } }, headers)
    await new Promise((r) => setTimeout(r, 100))
    const clash = await post({ jsonrpc: "2.0", id: 8, method: "tools/list" }, headers)
    expect(clash.status).toBe(400)
    const answered = await running
    expect(answered.status).toBe(200)
    expect(await answered.json()).toMatchObject({ id: 8, result: { content: [{ text: "waited" }] } })
  })

  it("refuses an initialize batched with another message, and a first message that is not initialize", async () => {
    const batched = await post([initialize(1), { jsonrpc: "2.0", id: 2, method: "tools/list" }])
    expect([batched.status, (await errorOf(batched)).message]).toEqual([400, "Invalid Request: Only one initialization request is allowed"])
    const first = await post({ jsonrpc: "2.0", id: 1, method: "tools/list" })
    expect([first.status, (await errorOf(first)).message]).toEqual([400, "Bad Request: Server not initialized"])
  })
})
