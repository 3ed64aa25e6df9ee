// The tools' argument decoders at the MCP boundary: every valid input decodes to itself and passes the
// JSON Schema tools/list advertises for it; anything else is refused with one line naming each wrong
// field, and nothing throws.
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { Arbitrary, Either, FastCheck, Schema } from "effect"
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv"
import { decodeToolInput, toolJsonSchema, toolList } from "../../../src/adapters/mcp/tool-catalog.js"
import { tools, type ToolName } from "../../../src/adapters/mcp/tool-schemas.js"

const names = Object.keys(tools) as Array<ToolName>
const ajv = new AjvJsonSchemaValidator()
const advertised = (name: ToolName) => {
  const tool = toolList().find((t) => t.name === name)
  if (tool === undefined) throw new Error(`${name} is not listed`)
  return tool
}
const refusal = (name: ToolName, args: unknown) => Either.getOrThrow(Either.flip(decodeToolInput(name, args)))

describe("the tools' argument decoders", () => {
  it("decode every valid input to itself, and the advertised JSON Schema accepts it too", () => {
    for (const name of names) {
      const accepts = ajv.getValidator(advertised(name).inputSchema as Parameters<typeof ajv.getValidator>[0])
      // effect's Arbitrary builds on its own copy of fast-check (FastCheck), so these properties use it too.
      FastCheck.assert(
        FastCheck.property(Arbitrary.make(tools[name].input as Schema.Schema<unknown>), (input) => {
          expect(Either.getOrThrow(decodeToolInput(name, input))).toEqual(input)
          const checked = accepts(input)
          expect(checked.valid, `${name}: ${checked.errorMessage}`).toBe(true)
        }),
        { numRuns: 60 }
      )
    }
  })

  it("refuse anything else with a line that names the tool, and never throw", () => {
    const field = fc.constantFrom("environment", "argv", "path", "content", "cwd", "limit", "types", "encoding", "max_bytes", "snapshot_id", "template", "name", "x")
    const args = fc.oneof(fc.anything(), fc.dictionary(field, fc.anything(), { maxKeys: 5 }))
    for (const name of names)
      fc.assert(
        fc.property(args, (value) => {
          const decoded = decodeToolInput(name, value)
          if (Either.isLeft(decoded)) expect(decoded.left).toMatch(new RegExp(`^Input validation error: invalid arguments for tool ${name}: \\S`))
        }),
        { numRuns: 200 }
      )
  })

  it("refuse an unknown field by its name, with the fields there are", () => {
    for (const name of names)
      FastCheck.assert(
        FastCheck.property(Arbitrary.make(tools[name].input as Schema.Schema<object>), FastCheck.stringMatching(/^[a-z]{1,8}_x$/), (input, extra) => {
          expect(refusal(name, { ...input, [extra]: 1 })).toContain(`${extra}: is unexpected, expected: `)
        }),
        { numRuns: 20 }
      )
  })

  it("say what is wrong and where, field by field", () => {
    expect(refusal("exec", { environment: "e", argv: [] })).toBe(
      "Input validation error: invalid arguments for tool exec: argv: Expected an array of at least 1 item(s), actual []"
    )
    expect(refusal("exec", { environment: "e", argv: ["A=1", "env"] })).toContain("argv: argv[0] must name a program (not empty, no '=')")
    expect(refusal("exec", { environment: "e", argv: ["ls", "a\u0000b"] })).toContain("argv.1: must not contain a NUL byte")
    expect(refusal("exec", { environment: "e", argv: ["ls"], cwd: "a\u0000" })).toContain("cwd: must not contain a NUL byte")
    expect(refusal("exec", { environment: "e", argv: ["ls"], timeout_seconds: 0 })).toContain("timeout_seconds: Expected a positive number, actual 0")
    expect(refusal("read_file", { environment: "e", path: "a", max_bytes: 1.5 })).toContain("max_bytes: Expected an integer, actual 1.5")
    expect(refusal("describe_environment", {})).toBe("Input validation error: invalid arguments for tool describe_environment: environment: is missing")
    expect(refusal("rollback", { environment: "e", snapshot_id: "snap-1" })).toContain("snapshot_id: Expected a string matching the pattern")
    const many = refusal("get_audit_trail", { environment: "", limit: 0, types: Array.from({ length: 12 }, () => "x"), a: 1, b: 2, c: 3, d: 4 })
    expect(many).toMatch(/; and \d+ more$/)
    expect(refusal("snapshot", { environment: "e", "": 1, "a b": 2 })).toContain('"": is unexpected')
    expect(refusal("list_environments", { include_released: "yes" })).toContain('include_released: Expected boolean, actual "yes"')
  })

  it("a call without arguments is an empty object: accepted where nothing is required", () => {
    expect(Either.isRight(decodeToolInput("list_environments", undefined))).toBe(true)
    expect(refusal("exec", undefined)).toContain("environment: is missing; argv: is missing")
  })
})

describe("the advertised JSON Schemas", () => {
  it("are strict objects for every input, with an output schema for every tool", () => {
    for (const tool of toolList()) {
      expect(tool.inputSchema).toMatchObject({ type: "object", additionalProperties: false })
      expect(tool.outputSchema).toMatchObject({ type: "object" })
      expect(JSON.stringify([tool.inputSchema, tool.outputSchema])).not.toMatch(/"(title|\$id)":/)
    }
  })

  it("drop the generator's titles and ids but keep a field that is called title", () => {
    const schema = toolJsonSchema(Schema.Struct({ title: Schema.String.pipe(Schema.maxLength(3)), any: Schema.Unknown }))
    expect(schema).toEqual({
      $schema: "http://json-schema.org/draft-07/schema#",
      type: "object",
      required: ["title", "any"],
      properties: { title: { type: "string", description: "a string at most 3 character(s) long", maxLength: 3 }, any: {} },
      additionalProperties: false
    })
  })
})
