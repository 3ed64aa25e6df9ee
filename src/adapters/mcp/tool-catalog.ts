// The tools as the MCP server offers them: each call's arguments decoded with the tool's effect/Schema
// input (every issue, each at its field), and the tools/list entries with the JSON Schemas derived
// from the same input and output schemas.
import { Either, JSONSchema, ParseResult, Schema } from "effect"
import type { Tool } from "@modelcontextprotocol/sdk/types.js"
import { tools, type ToolInput, type ToolName } from "./tool-schemas.js"

const READ_ONLY = new Set<ToolName>(["list_environments", "describe_environment", "read_file", "list_files", "get_audit_trail", "environment_diff", "environment_log"])
const DESTRUCTIVE = new Set<ToolName>(["release_environment", "rollback", "write_file"])
const MAX_ISSUES = 8
const MAX_ISSUE_CHARS = 300

const toolNames = Object.keys(tools) as Array<ToolName>

const decoders = Object.fromEntries(
  toolNames.map((name) => [name, Schema.decodeUnknownEither(tools[name].input as Schema.Schema<unknown>, { errors: "all", onExcessProperty: "error" })])
) as { readonly [K in ToolName]: (args: unknown) => Either.Either<unknown, ParseResult.ParseError> }

/** A field as the caller wrote it; quoted when it is not a plain name (empty, spaces, dots, …). */
const fieldName = (key: PropertyKey): string => (typeof key === "number" || /^[A-Za-z_][A-Za-z0-9_]*$/.test(String(key)) ? String(key) : JSON.stringify(String(key)))

/** What was wrong, field by field: `argv: Expected an array of at least 1 item(s), actual []; extra: is unexpected, …`. */
export const describeIssues = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const lines = issues.slice(0, MAX_ISSUES).map((issue) => {
    const at = issue.path.length === 0 ? "arguments" : issue.path.map(fieldName).join(".")
    const message = issue.message.length <= MAX_ISSUE_CHARS ? issue.message : `${issue.message.slice(0, MAX_ISSUE_CHARS)}…`
    return `${at}: ${message}`
  })
  return issues.length > MAX_ISSUES ? `${lines.join("; ")}; and ${issues.length - MAX_ISSUES} more` : lines.join("; ")
}

/** A call's arguments as the tool's input, or one line saying which fields are wrong and how. */
export const decodeToolInput = <K extends ToolName>(tool: K, args: unknown): Either.Either<ToolInput<K>, string> =>
  Either.mapBoth(decoders[tool](args ?? {}), {
    onLeft: (error) => `Input validation error: invalid arguments for tool ${tool}: ${describeIssues(error)}`,
    onRight: (input) => input as ToolInput<K>
  })

/**
 * The JSON Schema (draft-07) of a tool's input or output: effect's own, less the `title`s and `$id`s it
 * adds to refinements and `unknown` (an `$id` repeated within one document is an error for validators).
 */
export const toolJsonSchema = (schema: Schema.Schema.All): Record<string, unknown> => {
  const clean = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(clean)
    if (node === null || typeof node !== "object") return node
    return Object.fromEntries(
      Object.entries(node)
        .filter(([key]) => key !== "title" && key !== "$id")
        .map(([key, value]) =>
          // `properties` maps field names (which may well be "title") to schemas.
          key === "properties" && value !== null && typeof value === "object"
            ? [key, Object.fromEntries(Object.entries(value).map(([field, s]) => [field, clean(s)]))]
            : [key, clean(value)]
        )
    )
  }
  return clean(JSONSchema.make(schema as Schema.Schema<unknown>)) as Record<string, unknown>
}

let listed: ReadonlyArray<Tool> | null = null

/** The tools/list entries, built once. */
export const toolList = (): ReadonlyArray<Tool> => {
  listed ??= toolNames.map((name) => ({
    name,
    title: tools[name].title,
    description: tools[name].description,
    inputSchema: toolJsonSchema(tools[name].input) as Tool["inputSchema"],
    outputSchema: toolJsonSchema(tools[name].output) as NonNullable<Tool["outputSchema"]>,
    annotations: { readOnlyHint: READ_ONLY.has(name), destructiveHint: DESTRUCTIVE.has(name), openWorldHint: false }
  }))
  return listed
}
