// Transport layers: what a layer passes through, and requests handed straight to the SDK Server's
// dispatch (requestsDirect) answering as the SDK's own routing does — the SDK's Client and Server over
// the SDK's in-memory transport pair.
import { describe, expect, it } from "vitest"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { CallToolRequestSchema, ListToolsRequestSchema, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js"
import { layerTransport, requestsDirect } from "../../../src/adapters/mcp/transport-layer.js"

const serverWithTool = () => {
  const server = new Server({ name: "t", version: "1" }, { capabilities: { tools: {} } })
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [{ name: "echo", inputSchema: { type: "object" } }] }))
  server.setRequestHandler(CallToolRequestSchema, (request) => ({ content: [{ type: "text", text: JSON.stringify(request.params.arguments ?? null) }] }))
  return server
}

/** A server connected through `wrap`, and a raw client-side transport whose answers are collected. */
const rawPair = async (wrap: (t: InMemoryTransport, server: Server) => ReturnType<typeof layerTransport>) => {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
  const server = serverWithTool()
  await server.connect(wrap(serverSide, server))
  const answers: Array<JSONRPCMessage> = []
  clientSide.onmessage = (m) => void answers.push(m)
  await clientSide.start()
  const answer = async (id: number) => {
    for (let i = 0; i < 100 && !answers.some((a) => "id" in a && a.id === id); i++) await new Promise((r) => setTimeout(r, 5))
    return answers.find((a) => "id" in a && a.id === id)
  }
  return { clientSide, server, answer }
}

describe("transport layers", () => {
  it("serves the SDK Client through requestsDirect: initialize, the initialized notification, tools", async () => {
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
    const server = serverWithTool()
    let initialized = false
    server.oninitialized = () => void (initialized = true)
    await server.connect(requestsDirect(serverSide, server))
    const client = new Client({ name: "c", version: "1" })
    await client.connect(clientSide)
    expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["echo"])
    expect(await client.callTool({ name: "echo", arguments: { a: 1 } })).toMatchObject({ content: [{ type: "text", text: '{"a":1}' }] })
    await expect(client.ping()).resolves.toEqual({})
    // a notification still goes through the SDK's own routing
    expect(initialized).toBe(true)
    await client.close()
  })

  it("answers a request with params the method's schema refuses with an error, as the SDK's routing does", async () => {
    for (const wrap of [(t: InMemoryTransport) => t, (t: InMemoryTransport, s: Server) => requestsDirect(t, s)]) {
      const { clientSide, answer } = await rawPair(wrap)
      await clientSide.send({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: 5 } } as unknown as JSONRPCMessage)
      expect(await answer(1)).toMatchObject({ id: 1, error: { code: -32603 } })
      await clientSide.send({ jsonrpc: "2.0", id: 2, method: "no/such" })
      expect(await answer(2)).toMatchObject({ id: 2, error: { code: -32601, message: "Method not found" } })
      await clientSide.close()
    }
  })

  it("requestsDirect hands requests to the server's dispatch, and everything else to the handler set on it", async () => {
    const { clientSide, server, answer } = await rawPair((t, s) => requestsDirect(t, s))
    const handled: Array<JSONRPCMessage> = []
    server.transport!.onmessage = (m) => void handled.push(m)
    await clientSide.send({ jsonrpc: "2.0", id: 7, method: "ping" })
    expect(await answer(7)).toEqual({ jsonrpc: "2.0", id: 7, result: {} })
    await clientSide.send({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 3 } })
    await clientSide.send({ jsonrpc: "2.0", id: 99, result: {} })
    expect(handled).toEqual([
      { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 3 } },
      { jsonrpc: "2.0", id: 99, result: {} }
    ])
    await clientSide.close()
  })

  it("a layer sees every message in and out once, and passes the rest through", async () => {
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
    const seenIn: Array<string> = []
    const seenOut: Array<string> = []
    const layered = layerTransport(serverSide, {
      receive: (handler) => (message, extra) => {
        seenIn.push("method" in message ? message.method : "answer")
        handler(message, extra)
      },
      send: (message, options, next) => {
        seenOut.push("id" in message ? `answer ${String(message.id)}` : "notification")
        return next(message, options)
      }
    })
    let closed = false
    const server = serverWithTool()
    server.onclose = () => void (closed = true)
    await server.connect(requestsDirect(layered, server))
    expect(layered.onmessage).toBeDefined()
    const client = new Client({ name: "c", version: "1" })
    await client.connect(clientSide)
    await client.ping()
    expect(seenIn).toEqual(["initialize", "notifications/initialized", "ping"])
    expect(seenOut).toEqual(["answer 0", "answer 1"])
    await client.close()
    expect(closed).toBe(true)
  })
})
