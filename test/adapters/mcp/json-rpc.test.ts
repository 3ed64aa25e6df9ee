// The JSON-RPC envelope decoder at the HTTP boundary: every valid message decodes to itself with its
// kind, anything else is refused with a reason, and nothing throws.
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { Either } from "effect"
import { decodeMessage, kindOf } from "../../../src/adapters/mcp/json-rpc.js"

const id = fc.oneof(fc.string({ maxLength: 40 }), fc.integer())
const params = fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 })
const withParams = <T extends object>(base: fc.Arbitrary<T>) =>
  fc.tuple(base, fc.option(params, { nil: undefined })).map(([m, p]) => (p === undefined ? m : { ...m, params: p }))

const request = withParams(fc.record({ jsonrpc: fc.constant("2.0" as const), id, method: fc.string({ maxLength: 30 }) }))
const notification = withParams(fc.record({ jsonrpc: fc.constant("2.0" as const), method: fc.string({ maxLength: 30 }) }))
const result = fc.record({ jsonrpc: fc.constant("2.0" as const), id, result: params })
const error = fc.record(
  { jsonrpc: fc.constant("2.0" as const), id, error: fc.record({ code: fc.integer(), message: fc.string(), data: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: ["code", "message"] }) },
  { requiredKeys: ["jsonrpc", "error"] }
)

describe("decodeMessage", () => {
  it("decodes every valid request, notification, result and error to itself, with its kind", () => {
    const kinds = [
      ["request", request],
      ["notification", notification],
      ["result", result],
      ["error", error]
    ] as const
    for (const [kind, arbitrary] of kinds)
      fc.assert(
        fc.property(arbitrary, (message) => {
          const decoded = decodeMessage(message)
          expect(Either.getOrThrow(decoded)).toEqual({ kind, message })
          expect(kindOf(message)).toBe(kind)
        })
      )
  })

  it("refuses anything else with a reason and never throws", () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        const decoded = decodeMessage(value)
        if (Either.isLeft(decoded)) expect(decoded.left).toMatch(/JSON-RPC/)
        else expect(["request", "notification", "result", "error"]).toContain(decoded.right.kind)
      })
    )
  })

  it("keeps a field named __proto__ as the field it is, not as the params' prototype", () => {
    // JSON.parse makes "__proto__" an own field; a decoder that copied fields by assignment would
    // turn it into the copy's prototype, so that params would seem to have fields they do not have.
    const message = JSON.parse('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"__proto__":{"name":"exec"}}}') as unknown
    const decoded = Either.getOrThrow(decodeMessage(message))
    expect(decoded.message).toBe(message)
    const params = (decoded.message as { params: Record<string, unknown> }).params
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype)
    expect(Object.keys(params)).toEqual(["__proto__"])
    expect(params["name"]).toBeUndefined()
  })

  it("refuses an unknown field, another version, a fractional id and params that are not an object, naming what is wrong", () => {
    const base = { jsonrpc: "2.0", id: 1, method: "tools/list" }
    expect(Either.getOrThrow(Either.flip(decodeMessage({ ...base, extra: true })))).toMatch(/request.*extra/s)
    expect(Either.getOrThrow(Either.flip(decodeMessage({ ...base, jsonrpc: "1.0" })))).toMatch(/jsonrpc/)
    expect(Either.getOrThrow(Either.flip(decodeMessage({ ...base, id: 1.5 })))).toMatch(/id/)
    expect(Either.getOrThrow(Either.flip(decodeMessage({ ...base, params: [1] })))).toMatch(/params/)
    expect(Either.getOrThrow(Either.flip(decodeMessage({ jsonrpc: "2.0", id: 1 })))).toMatch(/not a JSON-RPC 2.0/)
    expect(Either.getOrThrow(Either.flip(decodeMessage([base])))).toMatch(/not a JSON-RPC 2.0/)
  })
})
