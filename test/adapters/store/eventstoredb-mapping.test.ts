// Records <-> EventStoreDB events, both ways: what the adapter writes comes back as the same bytes.
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import {
  baseRevision,
  bodyOf,
  chainClaim,
  derivedId,
  esdbExpected,
  esdbFrom,
  fromIndexEvent,
  indexEntryOf,
  isRecordEvent,
  stampedFor,
  streamNames,
  toEventData,
  toIndexEvent,
  toPosition
} from "../../../src/adapters/store/eventstoredb/mapping.js"
import { decodeLedgerRecordJson } from "../../../src/domain/ledger/record.js"
import { newWriter, nextRecord } from "../../support/record-builder.js"

/** What the client hands back for a JSON event it wrote: its data, through JSON text and back. */
const throughTheWire = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

const payload = fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 })
const streamId = fc.stringMatching(/^[a-z]{1,8}-[A-Za-z0-9._:-]{1,20}$/)

describe("EventStoreDB mapping", () => {
  it("writes a record as an event whose JSON data comes back as the record's exact bytes", () =>
    fc.assert(
      fc.property(payload, streamId, (data, stream) => {
        const record = nextRecord(newWriter(), stream, "CommandExecuted", data)
        const event = toEventData(record)
        expect(event.id).toBe(record.id)
        expect(event.type).toBe(record.type)
        expect(event.contentType).toBe("application/json")
        const body = bodyOf({ data: throughTheWire(event.data) })
        expect(body).toBe(JSON.stringify(record))
        const decoded = decodeLedgerRecordJson(body)
        expect(decoded._tag === "Right" && JSON.stringify(decoded.right)).toBe(JSON.stringify(record))
        expect(chainClaim({ metadata: throughTheWire(event.metadata) })).toEqual(record.chain)
      }),
      { numRuns: 60 }
    ))

  it("keeps an own __proto__ key of a record's data through decoding (fast-check seed 37259024 found it dropped)", () => {
    const record = nextRecord(newWriter(), "a-.", "CommandExecuted", JSON.parse('{"__proto__":[]}') as Record<string, unknown>)
    const decoded = decodeLedgerRecordJson(JSON.stringify(record))
    expect(decoded._tag === "Right" && JSON.stringify(decoded.right)).toBe(JSON.stringify(record))
  })

  it("gives back undecodable data as it is stored: malformed JSON as text, binary as its bytes", () => {
    expect(bodyOf({ data: '{"id": broken' })).toBe('{"id": broken')
    expect(bodyOf({ data: new TextEncoder().encode('{"a":1}') })).toBe('{"a":1}')
  })

  it("names streams with and without a namespace, and tells its own streams from others", () =>
    fc.assert(
      fc.property(streamId, fc.option(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { nil: undefined }), (stream, namespace) => {
        const names = streamNames(namespace)
        expect(names.recordStream(names.esdbStream(stream))).toBe(stream)
        expect(isRecordEvent(names, { streamId: names.esdbStream(stream), type: "SandboxLaunched" })).toBe(true)
        expect(isRecordEvent(names, { streamId: names.esdbStream(stream), type: "$>" })).toBe(false)
        expect(isRecordEvent(names, { streamId: names.chainIndex("0123456789abcdef"), type: "hydravisor.chain-index" })).toBe(false)
        expect(isRecordEvent(names, { streamId: names.blob("ab".repeat(32)), type: "hydravisor.blob-chunk" })).toBe(false)
        expect(isRecordEvent(names, { streamId: `$${stream}`, type: "SandboxLaunched" })).toBe(false)
        expect(isRecordEvent(names, { streamId: `other/${stream}`, type: "SandboxLaunched" })).toBe(namespace === "other")
      })
    ))

  it("maps positions both ways and reads $all from the start for Start", () =>
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 63n }), (p) => {
        expect(esdbFrom(toPosition({ commit: p, prepare: p }))).toEqual({ commit: p, prepare: p })
        expect(esdbFrom({ commit: -1n, prepare: -1n })).toBe("start")
        expect(esdbFrom(undefined)).toBe("start")
      })
    ))

  it("sends every expectation as an exact ESDB revision taken from where the records go", () => {
    const w = newWriter()
    const recs = [nextRecord(w, "sandbox-e", "A", {}), nextRecord(w, "sandbox-e", "B", {}), nextRecord(w, "sandbox-e", "C", {})]
    expect(esdbExpected(baseRevision("no_stream", recs))).toBe("no_stream")
    expect(esdbExpected(baseRevision("any", recs))).toBe("no_stream")
    expect(esdbExpected(baseRevision("any", recs.slice(1)))).toBe(0n)
    expect(esdbExpected(baseRevision(0, recs.slice(1)))).toBe(0n)
    expect(esdbExpected(baseRevision(41, recs))).toBe(41n)
    expect(stampedFor("sandbox-e", 0, recs)).toBe(null)
    expect(stampedFor("sandbox-e", 1, recs.slice(1))).toBe(null)
    expect(stampedFor("sandbox-e", 5, recs)).toBe(recs[0])
    expect(stampedFor("sandbox-f", 0, recs)).toBe(recs[0])
  })

  it("derives stable, distinct UUIDs for the adapter's own events", () => {
    const a = derivedId("chain-index", "x")
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(derivedId("chain-index", "x")).toBe(a)
    expect(derivedId("chain-index", "y")).not.toBe(a)
    expect(derivedId("blob", "h", "1")).not.toBe(derivedId("blob", "h1"))
  })

  it("writes a chain index entry at event number = seq and reads back only that", () => {
    const w = newWriter()
    const record = nextRecord(w, "sandbox-i", "A", {})
    const entry = indexEntryOf(record, { commit: 123_456n, prepare: 123_456n })
    const event = toIndexEvent(entry)
    expect(event.id).toBe(derivedId("chain-index", record.id))
    expect(fromIndexEvent({ data: throughTheWire(event.data), revision: BigInt(record.chain.seq) })).toEqual(entry)
    expect(fromIndexEvent({ data: throughTheWire(event.data), revision: BigInt(record.chain.seq + 1) })).toBe(null)
    expect(fromIndexEvent({ data: { seq: 0 }, revision: 0n })).toBe(null)
  })
})
