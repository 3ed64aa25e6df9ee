// Just enough of RFC 1035 for the DNS filter: read a query's one question, write an answer with A or
// AAAA records (or none, with a response code). Pure; malformed input is a value, never an exception.
import { Either } from "effect"

export const TYPE_A = 1
export const TYPE_AAAA = 28
export const CLASS_IN = 1
export const RCODE = { noError: 0, formErr: 1, servFail: 2, nxDomain: 3, notImp: 4, refused: 5 } as const

export interface DnsQuestion {
  readonly id: number
  readonly recursionDesired: boolean
  /** Lower case, no root dot; "" for the root. */
  readonly name: string
  readonly qtype: number
  readonly qclass: number
}

export interface DnsAnswer {
  readonly id: number
  readonly rcode: number
  readonly name: string
  readonly qtype: number
  /** Raw rdata of each answer record (4 bytes for A, 16 for AAAA). */
  readonly records: ReadonlyArray<{ readonly type: number; readonly ttl: number; readonly data: Uint8Array }>
}

const u16 = (b: Uint8Array, at: number): number => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0)

/** Labels from `at` without compression (a question's name is never compressed in a query). */
const readName = (b: Uint8Array, start: number): Either.Either<{ readonly name: string; readonly end: number }, string> => {
  const labels: Array<string> = []
  let at = start
  for (;;) {
    const length = b[at]
    if (length === undefined) return Either.left("name runs past the end of the message")
    if (length === 0) break
    if (length > 63) return Either.left(`label length ${length} (compression is not accepted in a question)`)
    if (at + 1 + length > b.length) return Either.left("label runs past the end of the message")
    const label = Buffer.from(b.subarray(at + 1, at + 1 + length)).toString("latin1")
    if (label.includes(".")) return Either.left("a label contains '.'")
    labels.push(label.toLowerCase())
    at += 1 + length
  }
  const name = labels.join(".")
  return name.length > 253 ? Either.left("name longer than 253 characters") : Either.right({ name, end: at + 1 })
}

const writeName = (name: string): Array<number> => {
  const out: Array<number> = []
  for (const label of name === "" ? [] : name.split(".")) {
    const bytes = Buffer.from(label, "latin1")
    out.push(bytes.length, ...bytes)
  }
  out.push(0)
  return out
}

/** A standard query with exactly one question; additional records (EDNS) are ignored. */
export const parseQuery = (b: Uint8Array): Either.Either<DnsQuestion, string> => {
  if (b.length < 12) return Either.left(`message of ${b.length} bytes is shorter than a DNS header`)
  const flags = u16(b, 2)
  if ((flags & 0x8000) !== 0) return Either.left("not a query (QR is set)")
  if (((flags >> 11) & 0xf) !== 0) return Either.left(`opcode ${(flags >> 11) & 0xf} is not a standard query`)
  if (u16(b, 4) !== 1) return Either.left(`${u16(b, 4)} questions (exactly one is supported)`)
  return Either.flatMap(readName(b, 12), ({ name, end }) =>
    end + 4 > b.length
      ? Either.left("question type and class run past the end of the message")
      : Either.right({ id: u16(b, 0), recursionDesired: (flags & 0x0100) !== 0, name, qtype: u16(b, end), qclass: u16(b, end + 2) })
  )
}

export const encodeQuery = (q: DnsQuestion): Uint8Array =>
  Uint8Array.from([
    q.id >> 8, q.id & 0xff, q.recursionDesired ? 0x01 : 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
    ...writeName(q.name), q.qtype >> 8, q.qtype & 0xff, q.qclass >> 8, q.qclass & 0xff
  ])

/** The response to `q`: the question echoed, then one record per rdata, each naming the question (pointer 0xc00c). */
export const encodeResponse = (
  q: DnsQuestion,
  rcode: number,
  records: ReadonlyArray<{ readonly type: number; readonly ttl: number; readonly data: Uint8Array }>
): Uint8Array => {
  const flags = 0x8000 | (q.recursionDesired ? 0x0100 : 0) | 0x0080 | (rcode & 0xf)
  const out: Array<number> = [q.id >> 8, q.id & 0xff, flags >> 8, flags & 0xff, 0, 1, records.length >> 8, records.length & 0xff, 0, 0, 0, 0]
  out.push(...writeName(q.name), q.qtype >> 8, q.qtype & 0xff, q.qclass >> 8, q.qclass & 0xff)
  for (const r of records) {
    out.push(0xc0, 0x0c, r.type >> 8, r.type & 0xff, CLASS_IN >> 8, CLASS_IN & 0xff)
    out.push((r.ttl >>> 24) & 0xff, (r.ttl >>> 16) & 0xff, (r.ttl >>> 8) & 0xff, r.ttl & 0xff, r.data.length >> 8, r.data.length & 0xff, ...r.data)
  }
  return Uint8Array.from(out)
}

/** Reads what `encodeResponse` writes (for tests and clients): question, rcode and answer rdata. */
export const parseResponse = (b: Uint8Array): Either.Either<DnsAnswer, string> => {
  if (b.length < 12) return Either.left("shorter than a DNS header")
  const flags = u16(b, 2)
  if ((flags & 0x8000) === 0) return Either.left("not a response")
  if (u16(b, 4) !== 1) return Either.left("expected one question")
  return Either.flatMap(readName(b, 12), ({ name, end }): Either.Either<DnsAnswer, string> => {
    const records: Array<{ type: number; ttl: number; data: Uint8Array }> = []
    let at = end + 4
    for (let i = 0; i < u16(b, 6); i++) {
      if (at + 12 > b.length || u16(b, at) !== 0xc00c) return Either.left(`answer ${i} is truncated or does not point at the question`)
      const length = u16(b, at + 10)
      if (at + 12 + length > b.length) return Either.left(`answer ${i} data runs past the end`)
      const ttl = (((b[at + 6] ?? 0) << 24) | ((b[at + 7] ?? 0) << 16) | ((b[at + 8] ?? 0) << 8) | (b[at + 9] ?? 0)) >>> 0
      records.push({ type: u16(b, at + 2), ttl, data: b.slice(at + 12, at + 12 + length) })
      at += 12 + length
    }
    return Either.right({ id: u16(b, 0), rcode: flags & 0xf, name, qtype: u16(b, end), records })
  })
}
