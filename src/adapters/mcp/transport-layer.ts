// A Transport seen through a layer that watches or redirects its messages in and out; everything
// else (start, close, the session id, the protocol version, the close and error callbacks) passes
// through to the transport underneath. The protocol layer sets `onmessage` once it connects: the
// layer's `receive` wraps whatever handler is set.
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js"
import type { JSONRPCMessage, JSONRPCRequest, MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js"
import type { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { kindOf } from "./json-rpc.js"

export type MessageHandler = (message: JSONRPCMessage, extra?: MessageExtraInfo) => void

export interface TransportLayer {
  /** Sends `message`; `next` is the transport underneath. */
  readonly send?: (message: JSONRPCMessage, options: TransportSendOptions | undefined, next: Transport["send"]) => Promise<void>
  /** The handler the transport underneath calls, given the one set on the layer. */
  readonly receive?: (handler: MessageHandler) => MessageHandler
}

export const layerTransport = (inner: Transport, layer: TransportLayer): Transport => {
  const send = layer.send
  const receive = layer.receive
  const wrapper: Transport = {
    start: () => inner.start(),
    close: () => inner.close(),
    send: send === undefined ? (message, options) => inner.send(message, options) : (message, options) => send(message, options, (m, o) => inner.send(m, o)),
    get sessionId() {
      return inner.sessionId
    },
    setProtocolVersion: (version: string) => inner.setProtocolVersion?.(version)
  }
  let handler: Transport["onmessage"] = undefined
  Object.defineProperty(wrapper, "onmessage", {
    get: () => handler,
    set: (given: Transport["onmessage"]) => {
      handler = given
      inner.onmessage = given === undefined || receive === undefined ? given : receive(given as MessageHandler)
    }
  })
  Object.defineProperty(wrapper, "onclose", { get: () => inner.onclose, set: (given: Transport["onclose"]) => (inner.onclose = given) })
  Object.defineProperty(wrapper, "onerror", { get: () => inner.onerror, set: (given: Transport["onerror"]) => (inner.onerror = given) })
  return wrapper
}

interface ProtocolRequests {
  readonly _onrequest: (request: JSONRPCRequest, extra?: MessageExtraInfo) => void
}

/**
 * Requests handed straight to the protocol layer's request dispatch. The handler `Protocol.connect`
 * installs tells a message's kind with up to four zod checks, in the order result, error, request,
 * notification, so every request first fails two of them; a failing zod check builds its issues and
 * error objects (~0.17 ms per request here in a CPU profile of the daemon, 2026-11-24). Our
 * transports hand over messages already decoded (ours with json-rpc.ts, the SDK's stdio framing with
 * its JSONRPCMessageSchema), so the kind is read from the keys. Notifications and answers still go
 * through the SDK's handler. Relies on `Server` being the SDK 1.x `Protocol`, whose request dispatch
 * is `_onrequest`; an SDK without it is served the SDK's own way (same answers, slower), and
 * test/adapters/mcp/transport-layer.test.ts fails.
 */
export const requestsDirect = (inner: Transport, server: Server): Transport => {
  const protocol = server as unknown as Partial<ProtocolRequests>
  if (typeof protocol._onrequest !== "function") return inner
  const dispatch = protocol as ProtocolRequests
  return layerTransport(inner, {
    receive: (handler) => (message, extra) => (kindOf(message) === "request" ? dispatch._onrequest(message as JSONRPCRequest, extra) : handler(message, extra))
  })
}
