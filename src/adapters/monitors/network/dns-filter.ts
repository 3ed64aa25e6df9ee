// The sandbox's resolver (its /etc/resolv.conf says 127.0.0.1): answers A/AAAA for names the policy
// admits, with only the addresses the proxy would accept, and REFUSED for the rest. Denied names are
// never passed on to a resolver. Every question is recorded (`via: "dns"`).
import { Either } from "effect"
import type * as dgram from "node:dgram"
import type * as net from "node:net"
import { formatIp } from "./address.js"
import { CLASS_IN, encodeResponse, parseQuery, RCODE, TYPE_A, TYPE_AAAA } from "./dns-message.js"
import type { DnsQuestion } from "./dns-message.js"
import { decideConnection, decideName } from "./egress-policy.js"
import type { Decision } from "./egress-policy.js"
import type { EgressContext } from "./egress-context.js"

const TTL_SECONDS = 30
const MAX_TCP_MESSAGE = 4096

const typeName = (qtype: number) => (qtype === TYPE_A ? "A" : qtype === TYPE_AAAA ? "AAAA" : `type ${qtype}`)

/** The response to one question, after recording it. */
export const answerQuestion = async (ctx: EgressContext, q: DnsQuestion): Promise<Uint8Array> => {
  const note = (decision: Decision, address: string | null) =>
    ctx.record({
      sandboxId: ctx.sandboxId,
      protocol: "dns",
      host: q.name,
      address,
      port: null,
      decision: decision.allowed ? "allowed" : "denied",
      rule: decision.rule,
      reason: `${typeName(q.qtype)} query: ${decision.reason}`,
      via: "dns",
      bytesSent: null,
      bytesReceived: null,
      pid: null
    })
  const byName = decideName(ctx.policy(), q.name)
  if (q.qclass !== CLASS_IN) {
    note({ allowed: false, rule: "unsupported query", reason: `class ${q.qclass} is not answered` }, null)
    return encodeResponse(q, RCODE.refused, [])
  }
  const addresses = await ctx.resolve(q.name)
  const verdicts = addresses.map((address) => ({ address, decision: decideConnection(ctx.policy(), { name: q.name, address, port: null }) }))
  const admitted = verdicts.filter((v) => v.decision.allowed)
  if (admitted.length === 0) {
    const unresolved: Decision = { allowed: false, rule: "name not resolved", reason: `${q.name} has no address` }
    const refusal = verdicts[0]?.decision ?? (byName.allowed ? unresolved : byName)
    note(refusal, verdicts[0] === undefined ? null : formatIp(verdicts[0].address))
    return encodeResponse(q, refusal === unresolved ? RCODE.nxDomain : RCODE.refused, [])
  }
  const family = q.qtype === TYPE_A ? 4 : q.qtype === TYPE_AAAA ? 6 : null
  const answers = family === null ? [] : admitted.filter((v) => v.address.family === family)
  const first = admitted[0]
  note(first?.decision ?? byName, answers[0] === undefined ? null : formatIp(answers[0].address))
  return encodeResponse(q, RCODE.noError, answers.map((v) => ({ type: family === 4 ? TYPE_A : TYPE_AAAA, ttl: TTL_SECONDS, data: v.address.bytes })))
}

/** A malformed message: FORMERR when it has a header to answer, else nothing; recorded either way. */
const answerMessage = async (ctx: EgressContext, message: Uint8Array): Promise<Uint8Array | null> => {
  const parsed = parseQuery(message)
  if (Either.isRight(parsed)) return answerQuestion(ctx, parsed.right)
  ctx.record({
    sandboxId: ctx.sandboxId, protocol: "dns", host: null, address: null, port: null, decision: "denied",
    rule: "malformed request", reason: `unreadable DNS query: ${parsed.left}`, via: "dns", bytesSent: null, bytesReceived: null, pid: null
  })
  if (message.length < 12) return null
  return Uint8Array.from([message[0] ?? 0, message[1] ?? 0, 0x80, RCODE.formErr, 0, 0, 0, 0, 0, 0, 0, 0])
}

export const serveDnsUdp = (ctx: EgressContext, socket: dgram.Socket): void => {
  socket.on("error", () => undefined)
  socket.on("message", (message, from) => {
    void answerMessage(ctx, message).then((reply) => {
      if (reply !== null) socket.send(reply, from.port, from.address, () => undefined)
    })
  })
}

/** DNS over TCP: 2-byte length-prefixed messages, answered in order. */
export const serveDnsTcp = (ctx: EgressContext, client: net.Socket, live: Set<net.Socket>): void => {
  live.add(client)
  client.once("close", () => live.delete(client))
  client.on("error", () => undefined)
  client.setTimeout(10_000, () => client.destroy())
  let buffered = Buffer.alloc(0)
  let chain: Promise<void> = Promise.resolve()
  client.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    while (buffered.length >= 2) {
      const length = buffered.readUInt16BE(0)
      if (length > MAX_TCP_MESSAGE) return void client.destroy()
      if (buffered.length < 2 + length) return
      const message = buffered.subarray(2, 2 + length)
      buffered = buffered.subarray(2 + length)
      chain = chain.then(async () => {
        const reply = await answerMessage(ctx, message)
        if (reply === null || client.destroyed) return
        const frame = Buffer.alloc(2 + reply.length)
        frame.writeUInt16BE(reply.length, 0)
        frame.set(reply, 2)
        client.write(frame)
      })
    }
  })
  client.resume()
}
