// Every tools/call and resources/read becomes one ToolCalled record, answered only once it is in the
// ledger. Calls our handlers take (claim) record themselves, refused arguments and unknown tools
// included; requests the SDK refuses before any handler runs (params that are not a tools/call's
// shape, a resource that is not ours) are caught here, in a wrapper around the transport that sees
// each request arrive and its answer leave.
import { randomUUID } from "node:crypto"
import { createHash } from "node:crypto"
import { Effect } from "effect"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { JSONRPCErrorResponse, JSONRPCMessage, JSONRPCNotification, JSONRPCRequest, JSONRPCResultResponse, RequestId } from "@modelcontextprotocol/sdk/types.js"
import { agentStream, ToolCalled, type ToolOutcome } from "../../domain/events/agent-events.js"
import type { AppendPart, LedgerShape } from "../ledger/ledger.js"
import { kindOf } from "./json-rpc.js"
import { agentActor, type Caller, type CallState } from "./tool-context.js"
import { layerTransport } from "./transport-layer.js"

const MAX_STRING = 1024
const MAX_ITEMS = 256
const MAX_DEPTH = 12

/** Arguments as recorded: long strings by hash, long lists and deep nesting cut, so a record stays small. */
export const digestArguments = (value: unknown, depth = 0): unknown => {
  if (typeof value === "string")
    return value.length <= MAX_STRING ? value : { $sha256: createHash("sha256").update(value, "utf8").digest("hex"), bytes: Buffer.byteLength(value, "utf8") }
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value)
  if (value === null || typeof value === "boolean") return value
  if (typeof value !== "object") return String(value)
  if (depth >= MAX_DEPTH) return { $cut: "nested too deep" }
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((v) => digestArguments(v, depth + 1))
    return value.length > MAX_ITEMS ? [...items, { $cut: `${value.length - MAX_ITEMS} more items` }] : items
  }
  const entries = Object.entries(value as Record<string, unknown>)
  const kept = entries.slice(0, MAX_ITEMS).map(([k, v]) => [k.length <= MAX_STRING ? k : `${k.slice(0, 64)}…`, digestArguments(v, depth + 1)] as const)
  return Object.fromEntries(entries.length > MAX_ITEMS ? [...kept, ["$cut", `${entries.length - MAX_ITEMS} more fields`]] : kept)
}

/** The call's ToolCalled record and what goes with it (alongside), as one ledger group. */
export const toolCalledParts = (caller: Caller, call: CallState, outcome: ToolOutcome, error: string | null): ReadonlyArray<AppendPart> => {
  const durationMs = Math.round((performance.now() - call.startedAt) * 1000) / 1000
  const correlation = call.callId
  return [
    {
      stream: agentStream(caller.agent.id),
      events: [
        {
          type: ToolCalled.type,
          data: { tool: call.tool, sandboxId: call.sandboxId, arguments: digestArguments(call.arguments), outcome, error, durationMs, transport: caller.transport, session: caller.session },
          sensitive: ToolCalled.sensitive
        }
      ],
      options: { actor: agentActor(caller.agent), correlation }
    },
    ...call.alongside.map((e) => ({ stream: e.stream, events: [{ type: e.type, data: e.data, sensitive: e.sensitive }], options: { actor: e.actor, correlation } }))
  ]
}

/** Records the call (unless a tool already did, with its own last records: `call.recorded`). */
export const recordToolCall = (ledger: LedgerShape, caller: Caller, call: CallState, outcome: ToolOutcome, error: string | null) =>
  call.recorded ? Effect.void : Effect.asVoid(ledger.appendAll(toolCalledParts(caller, call, outcome, error)))

const keyOf = (id: RequestId) => `${typeof id}:${String(id)}`

export interface CallBook {
  /** Notes a tools/call or resources/read as it arrives (and forgets one cancelled before it ran). */
  readonly arrived: (message: JSONRPCMessage) => void
  /** The call our handler is about to run. */
  readonly claim: (id: RequestId, fallback: { readonly tool: string; readonly arguments: unknown }) => CallState
  /** The call an outgoing answer closes, if it is one the SDK answered without our handler. */
  readonly answered: (message: JSONRPCMessage) => { readonly call: CallState; readonly error: string } | null
}

const newCall = (tool: string, args: unknown): CallState => ({ callId: randomUUID(), tool, arguments: args ?? null, startedAt: performance.now(), sandboxId: null, handled: false, recorded: false, alongside: [] })

/** The calls in flight on one connection, by JSON-RPC id. */
export const makeCallBook = (): CallBook => {
  const calls = new Map<string, CallState>()
  return {
    // Messages come decoded by their transport, so their keys tell what they are (no second parse).
    arrived: (message) => {
      const kind = kindOf(message)
      if (kind === "request") {
        const request = message as JSONRPCRequest
        if (request.method !== "tools/call" && request.method !== "resources/read") return
        const params = (request.params ?? {}) as Record<string, unknown>
        const read = request.method === "resources/read"
        const tool = read ? "resources/read" : typeof params["name"] === "string" ? params["name"] : "(no tool name)"
        calls.set(keyOf(request.id), newCall(tool, read ? { uri: params["uri"] } : params["arguments"]))
      } else if (kind === "notification" && (message as JSONRPCNotification).method === "notifications/cancelled") {
        const id = ((message as JSONRPCNotification).params as { requestId?: RequestId } | undefined)?.requestId
        // A call cancelled before any handler ran did nothing; one that ran records itself.
        if (id !== undefined && calls.get(keyOf(id))?.handled === false) calls.delete(keyOf(id))
      }
    },
    claim: (id, fallback) => {
      const call = calls.get(keyOf(id)) ?? newCall(fallback.tool, fallback.arguments)
      call.handled = true
      return call
    },
    answered: (message) => {
      const kind = kindOf(message)
      if (kind !== "result" && kind !== "error") return null
      const answer = message as JSONRPCResultResponse | JSONRPCErrorResponse
      if (answer.id === undefined) return null
      const key = keyOf(answer.id)
      const call = calls.get(key)
      if (call === undefined) return null
      calls.delete(key)
      if (call.handled) return null
      if (kind === "error") return { call, error: (answer as JSONRPCErrorResponse).error.message }
      const content = ((answer as JSONRPCResultResponse).result as { content?: Array<{ type?: string; text?: string }> }).content
      return { call, error: content?.find((c) => c.type === "text")?.text ?? "refused by the MCP server" }
    }
  }
}

/** `inner` with every refusal the SDK makes on its own recorded before it is sent. */
export const auditedTransport = (inner: Transport, book: CallBook, recordRefusal: (call: CallState, error: string) => Promise<void>): Transport =>
  layerTransport(inner, {
    send: async (message, options, next) => {
      const refused = book.answered(message)
      if (refused !== null) await recordRefusal(refused.call, refused.error)
      return next(message, options)
    },
    receive: (handler) => (message, extra) => {
      book.arrived(message)
      handler(message, extra)
    }
  })
