// A handle's runner state is decoded once per state object: the same object again is not decoded
// again (same result, same failure), and any other object is decoded on its own.
import { describe, expect, it } from "vitest"
import { Either, Schema } from "effect"
import { decodeOncePerObject } from "../../src/runners/handle-state.js"

describe("decodeOncePerObject", () => {
  it("decodes an object once, and each other object (or non-object) on its own", () => {
    let decodes = 0
    const Counted = Schema.Struct({ pid: Schema.Int }).pipe(Schema.filter(() => (decodes++, true)))
    const decode = decodeOncePerObject(Counted)
    const state = { pid: 7 }
    const first = decode(state)
    expect(Either.getOrThrow(first)).toEqual({ pid: 7 })
    expect(decode(state)).toBe(first)
    expect(decodes).toBe(1)
    expect(Either.getOrThrow(decode({ pid: 7 }))).toEqual({ pid: 7 })
    expect(decodes).toBe(2)
    const bad = { pid: "7" }
    const refused = decode(bad)
    expect(Either.isLeft(refused)).toBe(true)
    expect(decode(bad)).toBe(refused)
    expect(Either.isLeft(decode(null))).toBe(true)
    expect(Either.isLeft(decode("x"))).toBe(true)
  })
})
