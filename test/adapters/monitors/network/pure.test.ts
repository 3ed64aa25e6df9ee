// The pure parts of egress control, by property: address/CIDR matching, the egress decision, the DNS
// codec and the proxy request parser never throw on any input and never allow what is not covered.
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import { formatIp, hostLocalKind, inCidr, parseCidr, parseIp } from "../../../../src/adapters/monitors/network/address.js"
import type { IpAddress } from "../../../../src/adapters/monitors/network/address.js"
import { encodeQuery, encodeResponse, parseQuery, parseResponse, TYPE_A } from "../../../../src/adapters/monitors/network/dns-message.js"
import { compilePolicy, decideConnection, decideName, nameMatches } from "../../../../src/adapters/monitors/network/egress-policy.js"
import { forwardHead, parseProxyHead } from "../../../../src/adapters/monitors/network/proxy-request.js"
import { readTraceLine, wordsToAddress } from "../../../../src/adapters/monitors/network/syscall-trace.js"
import type { AllowlistEntry } from "../../../../src/domain/sandbox/template.js"

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b): IpAddress => ({ family: 4, bytes: Uint8Array.from(b) }))
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).filter((b) => !(b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff)).map((bytes): IpAddress => ({ family: 6, bytes }))
const ip = fc.oneof(v4, v6, fc.constantFrom(...["127.0.0.1", "169.254.169.254", "10.0.0.1", "::1", "fe80::1"].map((t) => parseIp(t) as IpAddress)))
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/)
const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join("."))
const entry: fc.Arbitrary<AllowlistEntry> = fc.record(
  {
    host: fc.oneof(
      name,
      name.map((n) => `*.${n}`),
      fc.tuple(ip, fc.nat(128)).map(([a, p]) => `${formatIp(a)}/${Math.min(p, a.family === 4 ? 32 : 128)}`),
      ip.map(formatIp)
    ),
    port: fc.integer({ min: 1, max: 65535 })
  },
  { requiredKeys: ["host"] }
)

describe("addresses", () => {
  it("format and parse are inverses, and an address is in its own /32 or /128 only with its own bits", () =>
    fc.assert(
      fc.property(ip, ip, (a, b) => {
        const back = parseIp(formatIp(a))
        expect(back).toEqual(a)
        const own = parseCidr(formatIp(a))
        expect(own !== null && inCidr(own, b)).toBe(a.family === b.family && formatIp(a) === formatIp(b))
      })
    ))

  it("never throws on any text", () => fc.assert(fc.property(fc.string(), (t) => void (parseIp(t), parseCidr(t)))))

  it("treats IPv4-mapped IPv6 as IPv4 (no loopback through ::ffff:127.0.0.1)", () => {
    expect(hostLocalKind(parseIp("::ffff:127.0.0.1") as IpAddress, [])).toBe("loopback")
    expect(hostLocalKind(parseIp("169.254.169.254") as IpAddress, [])).toBe("cloud metadata")
    expect(hostLocalKind(parseIp("fe80::9") as IpAddress, [])).toBe("link-local")
  })
})

describe("decideConnection", () => {
  it("allows only what an entry covers: a listed block, or a matching name on a non-host-local address", () =>
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 5 }), fc.option(name), ip, fc.option(fc.integer({ min: 1, max: 65535 })), fc.array(ip, { maxLength: 2 }), (entries, asked, address, port, own) => {
        const policy = compilePolicy({ mode: "allowlist", allowlist: entries }, own.map(formatIp))
        const decision = decideConnection(policy, { name: asked, address, port })
        const portOk = (e: AllowlistEntry) => e.port === undefined || port === null || e.port === port
        const byBlock = entries.some((e) => {
          const cidr = parseCidr(e.host)
          return cidr !== null && inCidr(cidr, address) && portOk(e)
        })
        const byName =
          asked !== null &&
          hostLocalKind(address, policy.hostAddresses) === null &&
          entries.some((e) => parseCidr(e.host) === null && portOk(e) && nameMatches({ name: e.host.replace(/^\*\./, ""), wildcard: e.host.startsWith("*.") }, asked))
        expect(decision.allowed).toBe(byBlock || byName)
      })
    ))

  it("mode none allows nothing; open allows everything but host-local addresses", () =>
    fc.assert(
      fc.property(fc.option(name), ip, (asked, address) => {
        expect(decideConnection(compilePolicy({ mode: "none" }, []), { name: asked, address, port: 80 }).allowed).toBe(false)
        expect(decideName(compilePolicy({ mode: "none" }, []), asked ?? "x.y").allowed).toBe(false)
        const open = decideConnection(compilePolicy({ mode: "open" }, []), { name: asked, address, port: 80 })
        expect(open.allowed).toBe(hostLocalKind(address, []) === null)
      })
    ))

  it("a wildcard covers names below it, never the name itself or a lookalike suffix", () => {
    const wild = { name: "svc.test", wildcard: true }
    expect(nameMatches(wild, "a.b.svc.test")).toBe(true)
    expect(nameMatches(wild, "svc.test")).toBe(false)
    expect(nameMatches(wild, "evilsvc.test")).toBe(false)
  })
})

describe("DNS codec", () => {
  const question = fc.record({ id: fc.nat(0xffff), recursionDesired: fc.boolean(), name, qtype: fc.constantFrom(1, 28, 16, 65), qclass: fc.constant(1) })

  it("reads back the query it writes, and a response with its answers", () =>
    fc.assert(
      fc.property(question, fc.array(v4, { maxLength: 4 }), fc.nat(5), (q, answers, rcode) => {
        expect(Either.getOrThrow(parseQuery(encodeQuery(q)))).toEqual(q)
        const response = Either.getOrThrow(parseResponse(encodeResponse(q, rcode, answers.map((a) => ({ type: TYPE_A, ttl: 30, data: a.bytes })))))
        expect(response).toMatchObject({ id: q.id, rcode, name: q.name, qtype: q.qtype })
        expect(response.records.map((r) => Array.from(r.data))).toEqual(answers.map((a) => Array.from(a.bytes)))
      })
    ))

  it("never throws on arbitrary bytes (or mutated queries)", () =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), question, fc.nat(), fc.nat(255), (bytes, q, at, value) => {
        parseQuery(bytes)
        parseResponse(bytes)
        const mutated = encodeQuery(q)
        mutated[at % mutated.length] = value
        parseQuery(mutated)
      })
    ))
})

describe("proxy request parser", () => {
  it("reads CONNECT and absolute-URI requests, and forwards origin-form with Connection: close", () => {
    expect(Either.getOrThrow(parseProxyHead("CONNECT Example.ORG:443 HTTP/1.1\r\nHost: example.org:443"))).toMatchObject({ kind: "connect", host: "example.org", port: 443, isAddress: false })
    expect(Either.getOrThrow(parseProxyHead("CONNECT [::ffff:127.0.0.1]:22 HTTP/1.1"))).toMatchObject({ host: "127.0.0.1", isAddress: true, port: 22 })
    const get = Either.getOrThrow(parseProxyHead("GET http://10.0.0.1:8080/a?b=1 HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nProxy-Connection: keep-alive"))
    expect(get).toMatchObject({ kind: "http", host: "10.0.0.1", port: 8080, path: "/a?b=1" })
    if (get.kind === "http") expect(forwardHead(get)).toBe("GET /a?b=1 HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nConnection: close\r\n\r\n")
    for (const bad of ["GET /local HTTP/1.1", "GET https://x.org/ HTTP/1.1", "CONNECT x.org HTTP/1.1", "GET http://u:p@x.org/ HTTP/1.1", "CONNECT x.org:99999 HTTP/1.1"]) {
      expect(Either.isLeft(parseProxyHead(bad))).toBe(true)
    }
  })

  it("never throws, and what it accepts names a valid host and port", () =>
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.tuple(fc.constantFrom("GET", "CONNECT", "POST"), fc.string(), fc.constantFrom("HTTP/1.1", "HTTP/1.0")).map(([m, t, v]) => `${m} ${t} ${v}`)),
        (head) => {
          const parsed = parseProxyHead(head)
          if (Either.isRight(parsed)) {
            expect(parsed.right.port).toBeGreaterThanOrEqual(1)
            expect(parsed.right.port).toBeLessThanOrEqual(65535)
            expect(parsed.right.isAddress ? parseIp(parsed.right.host) : parsed.right.host).not.toBeNull()
          }
        }
      )
    ))
})

describe("connect() trace lines", () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff })
  const attempt = fc.record({
    pid: fc.integer({ min: 1, max: 4194304 }),
    tid: fc.integer({ min: 1, max: 4194304 }),
    pidNs: u32,
    netNs: u32,
    port: fc.integer({ min: 0, max: 65535 }),
    words: fc.oneof(fc.array(u32, { minLength: 1, maxLength: 1 }), fc.array(u32, { minLength: 4, maxLength: 4 })),
    result: fc.integer({ min: -4095, max: 0 })
  })

  it("an enter line and its exit give the attempt with the namespaces it was made in", () =>
    fc.assert(
      fc.property(attempt, (a) => {
        const family = a.words.length === 1 ? 4 : 6
        const pending = new Map()
        expect(readTraceLine(`C ${a.pid} ${a.tid} ${a.pidNs} ${a.netNs} ${family} ${a.port} ${a.words.join(" ")}`, pending)).toBeNull()
        const read = readTraceLine(`R ${a.tid} ${a.result}`, pending)
        expect(read).toEqual({ pid: a.pid, pidNs: a.pidNs, netNs: a.netNs, port: a.port, address: wordsToAddress(family, a.words), result: a.result })
        expect(pending.size).toBe(0)
      })
    ))

  it("never throws on other lines, and an exit without its enter is nothing", () => {
    expect(readTraceLine("R 12 -101", new Map())).toBeNull()
    // the format before namespaces were printed (one word short), and a family with the wrong word count
    expect(readTraceLine("C 1 2 4 80 16777226", new Map())).toBeNull()
    expect(readTraceLine("C 1 2 3 4 6 80 16777226", new Map())).toBeNull()
    expect(readTraceLine("Lost 12 events", new Map())).toBe("lost")
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(fc.oneof(fc.constantFrom("C", "R", "-1", "NaN", "1e3", "4", "6"), fc.nat().map(String)), { maxLength: 10 }).map((f) => f.join(" "))), (line) => {
        const read = readTraceLine(line, new Map())
        if (read !== null && read !== "lost") expect(Number.isSafeInteger(read.pidNs) && Number.isSafeInteger(read.netNs)).toBe(true)
      })
    )
  })
})
