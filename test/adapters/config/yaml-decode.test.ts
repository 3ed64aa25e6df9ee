import { Either, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { stringify } from "yaml"
import {
  closest,
  decodeValue,
  decodeYaml,
  formatInvalidYaml,
  InvalidYaml
} from "../../../src/adapters/config/yaml-decode.js"

const Limits = Schema.Struct({
  memory_mb: Schema.Int.pipe(Schema.positive(), Schema.annotations({ description: "a positive integer" })),
  pids: Schema.optionalWith(Schema.Int, { exact: true })
})
const Sample = Schema.Struct({
  name: Schema.String,
  mode: Schema.Literal("none", "open"),
  limits: Limits,
  tags: Schema.optionalWith(Schema.Array(Schema.String), { exact: true })
})

const problemsOf = (text: string) => {
  const result = decodeYaml(Sample, "sample.yaml", text)
  if (Either.isRight(result)) throw new Error(`expected a failure, got ${JSON.stringify(result.right)}`)
  return result.left
}

describe("decodeYaml", () => {
  it("decodes a valid document into the Schema's type", () => {
    const result = decodeYaml(Sample, "sample.yaml", "name: x\nmode: open\nlimits:\n  memory_mb: 512\ntags: [a, b]\n")
    expect(result).toEqual(Either.right({ name: "x", mode: "open", limits: { memory_mb: 512 }, tags: ["a", "b"] }))
  })

  it("reports a wrong value at its key's line and column, with what was expected and what was found", () => {
    const error = problemsOf("name: x\nmode: open\nlimits:\n  memory_mb: -5\n")
    expect(error).toBeInstanceOf(InvalidYaml)
    expect(error).toMatchObject({ _tag: "InvalidYaml", file: "sample.yaml", line: 4, column: 3, field: "limits.memory_mb" })
    expect(error.message).toBe("sample.yaml:4:3: limits.memory_mb: expected a positive integer, got -5")
  })

  it("reports an unknown key with the closest known key", () => {
    const error = problemsOf("name: x\nmode: open\nlimits:\n  memroy_mb: 5\n  memory_mb: 5\n")
    expect(error.message).toBe("sample.yaml:4:3: limits.memroy_mb: unknown key 'memroy_mb' (did you mean 'memory_mb'?)")
  })

  it("reports an unknown key without a suggestion when nothing is close", () => {
    const error = problemsOf("name: x\nmode: open\nlimits: {memory_mb: 5}\ncolour: blue\n")
    expect(error.reason).toBe("unknown key 'colour'")
    expect(error.line).toBe(4)
  })

  it("reports a missing field at its parent's line", () => {
    const error = problemsOf("name: x\nmode: open\nlimits:\n  pids: 3\n")
    expect(error.message).toBe("sample.yaml:3:1: limits.memory_mb: missing; expected a positive integer")
  })

  it("lists the allowed values of a literal", () => {
    const error = problemsOf("name: x\nmode: closed\nlimits: {memory_mb: 1}\n")
    expect(error.message).toBe(`sample.yaml:2:1: mode: expected one of "none", "open", got "closed"`)
  })

  it("points into lists by index", () => {
    const error = problemsOf("name: x\nmode: open\nlimits: {memory_mb: 1}\ntags:\n  - a\n  - 7\n")
    expect(error).toMatchObject({ line: 6, column: 5, field: "tags[1]", reason: "expected a string, got 7" })
  })

  it("reports every problem, one line each, in file order", () => {
    const error = problemsOf("mode: shut\nlimits:\n  memory_mb: 0\nname: 3\n")
    expect(formatInvalidYaml(error)).toEqual([
      `sample.yaml:1:1: mode: expected one of "none", "open", got "shut"`,
      "sample.yaml:3:3: limits.memory_mb: expected a positive integer, got 0",
      "sample.yaml:4:1: name: expected a string, got 3"
    ])
    expect(error.message).toBe(formatInvalidYaml(error).join("\n"))
  })

  it("reports a YAML syntax error with file and line", () => {
    const error = problemsOf("name: x\nlimits: {memory_mb: 1\nmode: open\n")
    expect(error.file).toBe("sample.yaml")
    expect(error.line).toBeGreaterThanOrEqual(2)
    expect(error.message).toMatch(/^sample\.yaml:\d+:\d+: invalid YAML: /)
  })

  it("reports a duplicate key as a syntax error at the second occurrence", () => {
    const error = problemsOf("name: x\nmode: open\nname: y\nlimits: {memory_mb: 1}\n")
    expect(error.line).toBe(3)
    expect(error.reason).toMatch(/unique/)
  })

  it("reads an empty document as an empty mapping", () => {
    const error = problemsOf("# nothing here\n")
    expect(error.problems.map((problem) => problem.field)).toEqual(["name", "mode", "limits"])
    expect(decodeYaml(Schema.Struct({}), "empty.yaml", "")).toEqual(Either.right({}))
  })

  it("says what it found when the top is not a mapping", () => {
    expect(problemsOf("- a\n- b\n").message).toBe("sample.yaml:1:1: expected a mapping (key: value), got a list")
  })

  it("reports an unresolvable alias as invalid YAML instead of throwing", () => {
    expect(problemsOf("name: *nowhere\n").message).toMatch(/^sample\.yaml:1:\d+: invalid YAML: /)
  })

  it("never throws on any JSON value written as YAML: it yields a value or an InvalidYaml", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const result = decodeYaml(Sample, "junk.yaml", stringify(value))
        expect(Either.isRight(result) || result.left._tag === "InvalidYaml").toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("never throws on any text, and every problem is placed inside the text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 200 }), (text) => {
        const result = decodeYaml(Sample, "junk.yaml", text)
        if (Either.isLeft(result)) {
          const lines = text.split(/\r\n|\r|\n/).length
          for (const problem of result.left.problems) {
            expect(problem.line).toBeGreaterThanOrEqual(1)
            expect(problem.line).toBeLessThanOrEqual(lines + 1)
            expect(problem.column).toBeGreaterThanOrEqual(1)
          }
        }
      }),
      { numRuns: 500 }
    )
  })

  it("never throws on text shaped like YAML", () => {
    const line = fc.tuple(
      fc.constantFrom("", "  ", "    ", "- "),
      fc.constantFrom("name", "mode", "limits", "memory_mb", "tags", "&a x", "*a", "- ", "? ", "<<", "__proto__"),
      fc.constantFrom(": ", ":", " ", ": [", ": {", ": |", ": !!binary "),
      fc.oneof(fc.string({ maxLength: 10 }), fc.integer().map(String), fc.constantFrom("open", "none", "-5", "~", "]"))
    ).map((parts) => parts.join(""))
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), (lines) => {
        const result = decodeYaml(Sample, "junk.yaml", lines.join("\n"))
        expect(Either.isRight(result) || result.left._tag === "InvalidYaml").toBe(true)
      }),
      { numRuns: 500 }
    )
  })
})

describe("decodeValue", () => {
  it("gives field problems without a file", () => {
    expect(decodeValue(Sample, { name: "x", mode: "open", limits: { memory_mb: "a" } })).toEqual(
      Either.left([{ path: ["limits", "memory_mb"], field: "limits.memory_mb", reason: `expected a positive integer, got "a"` }])
    )
  })

  it("never throws on any value", () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        expect(() => decodeValue(Sample, value)).not.toThrow()
      })
    )
  })
})

describe("closest", () => {
  it("suggests a known key one typo away", () => {
    expect(closest("memroy_mb", ["memory_mb", "pids"])).toBe("memory_mb")
    expect(closest("pid", ["memory_mb", "pids"])).toBe("pids")
  })

  it("suggests nothing for an unrelated name", () => {
    expect(closest("colour", ["memory_mb", "pids"])).toBeUndefined()
  })
})
