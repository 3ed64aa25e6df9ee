// The egress proxy's side of one sandbox connection: read the request head, decide on the resolved
// address, connect to exactly that address from the host, pipe both ways, and record the attempt
// (denied at once; allowed on close, with the bytes each way), at most at the sandbox's bandwidth.
import { Either } from "effect"
import * as net from "node:net"
import { formatIp, parseIp } from "./address.js"
import type { IpAddress } from "./address.js"
import { relay } from "./bandwidth.js"
import { decideConnection, decideName } from "./egress-policy.js"
import type { Decision } from "./egress-policy.js"
import type { ConnectionObservation, EgressContext } from "./egress-context.js"
import { forwardHead, MAX_HEAD_BYTES, parseProxyHead } from "./proxy-request.js"
import type { ProxyRequest } from "./proxy-request.js"

const HEAD_TIMEOUT_MS = 10_000

const respond = (client: net.Socket, status: string, body: string) =>
  client.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)

const observation = (
  ctx: EgressContext,
  protocol: ConnectionObservation["protocol"],
  fields: Pick<ConnectionObservation, "host" | "address" | "port" | "rule" | "reason"> & { readonly allowed: boolean },
  bytes: { readonly sent: number; readonly received: number } | null
): ConnectionObservation => ({
  sandboxId: ctx.sandboxId,
  protocol,
  host: fields.host,
  address: fields.address,
  port: fields.port,
  decision: fields.allowed ? "allowed" : "denied",
  rule: fields.rule,
  reason: fields.reason,
  via: "proxy",
  bytesSent: bytes?.sent ?? null,
  bytesReceived: bytes?.received ?? null,
  pid: null
})

/** The first candidate address the policy admits, or the first refusal (why the name or address is denied). */
export const chooseAddress = async (
  ctx: EgressContext,
  request: ProxyRequest
): Promise<{ readonly address: IpAddress | null; readonly decision: Decision }> => {
  const name = request.isAddress ? null : request.host
  const candidates = name === null ? [] : await ctx.resolve(name)
  const literal = name === null ? parseIp(request.host) : null
  const addresses = literal !== null ? [literal] : candidates
  if (addresses.length === 0) {
    const denied = name === null ? null : decideNameOnly(ctx, name)
    return { address: null, decision: denied ?? { allowed: false, rule: "name not resolved", reason: `${name ?? request.host} has no address` } }
  }
  let first: { address: IpAddress; decision: Decision } | null = null
  for (const address of addresses) {
    const decision = decideConnection(ctx.policy(), { name, address, port: request.port })
    if (decision.allowed) return { address, decision }
    first ??= { address, decision }
  }
  return first ?? { address: null, decision: { allowed: false, rule: "name not resolved", reason: `${request.host} has no address` } }
}

/** A name that resolved to nothing: denied by policy when the policy denies it, else simply unresolved. */
const decideNameOnly = (ctx: EgressContext, name: string): Decision | null => {
  const decision = decideName(ctx.policy(), name)
  return decision.allowed ? null : decision
}

const protocolOf = (request: ProxyRequest) => (request.kind === "connect" ? "https-connect" : "http") as "https-connect" | "http"

const forward = (ctx: EgressContext, client: net.Socket, request: ProxyRequest, rest: Buffer, address: IpAddress, decision: Decision, live: Set<net.Socket>) => {
  const addressText = formatIp(address)
  const upstream = net.connect({ host: addressText, port: request.port, family: address.family, timeout: ctx.connectTimeoutMs })
  live.add(upstream)
  let sent = 0
  let received = 0
  let connected = false
  let failure: string | null = null
  let closed = 0
  const onClose = () => {
    if (++closed < 2) return
    live.delete(upstream)
    const reason = failure === null ? decision.reason : `${decision.reason}; ${failure}`
    const fields = { host: request.isAddress ? null : request.host, address: addressText, port: request.port, rule: decision.rule, reason, allowed: true }
    ctx.record(observation(ctx, protocolOf(request), fields, { sent, received }))
  }
  client.once("close", onClose)
  upstream.once("close", onClose)
  upstream.once("timeout", () => {
    if (connected) return
    failure ??= `upstream did not answer within ${ctx.connectTimeoutMs} ms`
    respond(client, "504 Gateway Timeout", `hydravisor: ${addressText} port ${request.port} did not answer\n`)
    upstream.destroy()
  })
  upstream.on("error", (error) => {
    if (connected) return client.destroy()
    failure ??= `upstream unreachable: ${error.message}`
    respond(client, "502 Bad Gateway", `hydravisor: cannot reach ${addressText} port ${request.port}: ${error.message}\n`)
  })
  client.on("error", () => upstream.destroy())
  client.once("close", () => upstream.destroy())
  upstream.once("close", () => {
    if (connected) client.end()
  })
  upstream.once("connect", () => {
    connected = true
    upstream.setTimeout(0)
    if (request.kind === "connect") client.write("HTTP/1.1 200 Connection established\r\n\r\n")
    const first = Buffer.concat([request.kind === "http" ? Buffer.from(forwardHead(request), "latin1") : Buffer.alloc(0), rest])
    sent += first.length
    if (first.length > 0) upstream.write(first)
    // the head and the bytes that came with it were read before the relays: they count against the bucket too
    if (first.length > 0) ctx.bandwidth?.up.take(first.length, performance.now())
    const relays = [
      relay(client, upstream, ctx.bandwidth?.up ?? null, (n) => (sent += n)),
      relay(upstream, client, ctx.bandwidth?.down ?? null, (n) => (received += n))
    ]
    const stop = () => relays.forEach((r) => r.stop())
    client.once("close", stop)
    upstream.once("close", stop)
    client.on("end", () => upstream.end())
    upstream.on("end", () => client.end())
  })
}

/** Serves one connection accepted on the proxy's listener; `live` holds open upstream sockets (closed on stop). */
export const serveProxyConnection = (ctx: EgressContext, client: net.Socket, live: Set<net.Socket>): void => {
  let buffered = Buffer.alloc(0)
  live.add(client)
  client.once("close", () => live.delete(client))
  client.on("error", () => undefined)
  const refuse = (status: string, protocol: ConnectionObservation["protocol"], fields: Pick<ConnectionObservation, "host" | "address" | "port" | "rule" | "reason">) => {
    respond(client, status, `hydravisor: denied: ${fields.reason}\n`)
    ctx.record(observation(ctx, protocol, { ...fields, allowed: false }, null))
  }
  const timer = setTimeout(() => refuse("408 Request Timeout", "other", { host: null, address: null, port: null, rule: "malformed request", reason: "no complete request head within 10 s" }), HEAD_TIMEOUT_MS)
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    const end = buffered.indexOf("\r\n\r\n")
    if (end < 0 && buffered.length <= MAX_HEAD_BYTES) return
    client.off("data", onData)
    client.pause()
    clearTimeout(timer)
    if (end < 0) return refuse("431 Request Header Fields Too Large", "other", { host: null, address: null, port: null, rule: "malformed request", reason: `request head longer than ${MAX_HEAD_BYTES} bytes` })
    const parsed = parseProxyHead(buffered.subarray(0, end).toString("latin1"))
    if (Either.isLeft(parsed)) return refuse("400 Bad Request", "other", { host: null, address: null, port: null, rule: "malformed request", reason: parsed.left })
    const request = parsed.right
    const rest = buffered.subarray(end + 4)
    void chooseAddress(ctx, request).then(({ address, decision }) => {
      if (address === null || !decision.allowed) {
        return refuse("403 Forbidden", protocolOf(request), {
          host: request.isAddress ? null : request.host,
          address: address === null ? (request.isAddress ? request.host : null) : formatIp(address),
          port: request.port,
          rule: decision.rule,
          reason: decision.reason
        })
      }
      forward(ctx, client, request, rest, address, decision, live)
    })
  }
  client.on("data", onData)
  client.resume()
}
