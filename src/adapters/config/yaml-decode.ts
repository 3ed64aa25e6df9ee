// Decoding YAML files (config, templates, policies) at the boundary: parse, decode with a Schema that
// rejects unknown keys, and turn every Schema issue into one line a person can act on:
// `templates/python-dev.yaml:7:3: resources.memory_mb: expected a positive integer, got -5`.
import { Data, Either, ParseResult, Schema, SchemaAST } from "effect"
import { isAlias, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from "yaml"
import type { Document } from "yaml"

/** One thing wrong with a file, located at the offending key or value. */
export interface YamlProblem {
  readonly file: string
  readonly line: number
  readonly column: number
  /** Dotted path of the field (`resources.memory_mb`, `packages[2]`); empty at the top or for syntax. */
  readonly field: string
  /** What was expected and what was found, without the location. */
  readonly reason: string
}

/** A file that is not valid YAML or does not match its Schema. The first problem is also spread on top. */
export class InvalidYaml extends Data.TaggedError("InvalidYaml")<{
  readonly file: string
  readonly line: number
  readonly column: number
  readonly field: string
  readonly reason: string
  /** Every problem, one formatted line each (`file:line:col: field: reason`). */
  readonly message: string
  readonly problems: ReadonlyArray<YamlProblem>
}> {}

/** A Schema issue turned into words, before it is placed in a file. */
export interface FieldProblem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly field: string
  readonly reason: string
}

export interface Position {
  readonly line: number
  readonly column: number
}

/** A parsed document: its plain value and a way back from a value path to where it is written. */
export interface ParsedYaml {
  readonly file: string
  readonly value: unknown
  readonly locate: (path: ReadonlyArray<PropertyKey>) => Position
}

export const formatYamlProblem = (problem: YamlProblem): string =>
  `${problem.file}:${problem.line}:${problem.column}: ${problem.field === "" ? "" : `${problem.field}: `}${problem.reason}`

/** One line per problem, in file order. */
export const formatInvalidYaml = (error: InvalidYaml): ReadonlyArray<string> =>
  error.problems.map(formatYamlProblem)

const invalidYaml = (problems: readonly [YamlProblem, ...Array<YamlProblem>]): InvalidYaml => {
  const [first] = problems
  return new InvalidYaml({
    file: first.file,
    line: first.line,
    column: first.column,
    field: first.field,
    reason: first.reason,
    message: problems.map(formatYamlProblem).join("\n"),
    problems
  })
}

/** Strict decoding: a typo'd key is an error, and every issue is reported, not just the first. */
const decodeOptions = { errors: "all", onExcessProperty: "error" } as const

/**
 * Parses one YAML document. An empty document (nothing but comments) is an empty mapping: every file
 * we read is a mapping at the top, so "nothing set" is the natural reading.
 */
export const parseYaml = (file: string, text: string): Either.Either<ParsedYaml, InvalidYaml> => {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, logLevel: "error", uniqueKeys: true })
  const at = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset)
    return { line, column: col }
  }
  const syntax = doc.errors.map((error): YamlProblem => ({
    file,
    ...at(error.pos[0]),
    field: "",
    reason: `invalid YAML: ${error.message}`
  }))
  if (isNonEmpty(syntax)) return Either.left(invalidYaml(syntax))
  const value = Either.try({
    try: () => (doc.contents === null ? {} : doc.toJS({ maxAliasCount: 100 }) as unknown),
    catch: (error) => error instanceof Error ? error.message : String(error)
  })
  if (Either.isLeft(value)) {
    return Either.left(invalidYaml([{ file, ...at(doc.contents?.range?.[0] ?? 0), field: "", reason: `invalid YAML: ${value.left}` }]))
  }
  return Either.right({ file, value: value.right, locate: (path) => at(offsetOf(doc, path)) })
}

/** Decodes an already parsed document, placing each Schema issue at its key in the file. */
export const decodeParsedYaml = <A, I>(
  schema: Schema.Schema<A, I, never>,
  parsed: ParsedYaml
): Either.Either<A, InvalidYaml> =>
  Schema.decodeUnknownEither(schema, decodeOptions)(parsed.value).pipe(
    Either.mapLeft((error) => {
      const problems = describeParseError(error)
        .map((problem): YamlProblem => ({
          file: parsed.file,
          ...parsed.locate(problem.path),
          field: problem.field,
          reason: problem.reason
        }))
        .sort((a, b) => a.line - b.line || a.column - b.column)
      return invalidYaml(isNonEmpty(problems) ? problems : [{ file: parsed.file, line: 1, column: 1, field: "", reason: error.message }])
    })
  )

/** The one entry point: YAML text from `file` decoded with `schema`. */
export const decodeYaml = <A, I>(
  schema: Schema.Schema<A, I, never>,
  file: string,
  text: string
): Either.Either<A, InvalidYaml> => Either.flatMap(parseYaml(file, text), (parsed) => decodeParsedYaml(schema, parsed))

/** Decodes a plain value (an environment variable, a flag) with the same strictness as a file. */
export const decodeValue = <A, I>(
  schema: Schema.Schema<A, I, never>,
  value: unknown
): Either.Either<A, ReadonlyArray<FieldProblem>> =>
  Schema.decodeUnknownEither(schema, decodeOptions)(value).pipe(Either.mapLeft(describeParseError))

// ---------------------------------------------------------------------------------------------------
// Schema issues → field problems

/** Flattens a ParseError into one problem per offending field, in words. */
export const describeParseError = (error: ParseResult.ParseError): ReadonlyArray<FieldProblem> =>
  collect(error.issue, [], undefined)

const collect = (
  issue: ParseResult.ParseIssue,
  path: ReadonlyArray<PropertyKey>,
  parent: SchemaAST.AST | undefined
): Array<FieldProblem> => {
  const problem = (reason: string): Array<FieldProblem> => [{ path, field: dotted(path), reason }]
  switch (issue._tag) {
    case "Pointer":
      return collect(issue.issue, [...path, ...(Array.isArray(issue.path) ? issue.path : [issue.path])], parent)
    case "Composite": {
      if (SchemaAST.isUnion(issue.ast)) return collectUnion(issue, path, parent)
      const issues = Array.isArray(issue.issues) ? issue.issues : [issue.issues]
      return issues.flatMap((inner) => collect(inner, path, issue.ast))
    }
    case "Transformation":
      return collect(issue.issue, path, parent)
    case "Refinement":
      if (issue.kind === "From" && isStructural(issue.issue)) return collect(issue.issue, path, parent)
      if (issue.kind === "Predicate") {
        if (issue.issue._tag === "Type" && issue.issue.message !== undefined) return problem(issue.issue.message)
        if (issue.issue._tag !== "Type") return collect(issue.issue, path, parent)
      }
      return problem(expected(issue.ast, issue.actual))
    case "Type":
      return problem(issue.message ?? expected(issue.ast, issue.actual))
    case "Missing":
      return problem(`missing; expected ${describeAst(issue.ast.type)}`)
    case "Unexpected":
      return problem(unknownKey(path[path.length - 1], parent))
    case "Forbidden":
      return problem(issue.message ?? "cannot be checked here")
  }
}

/** Whether an issue concerns parts of a value (so the parts are worth reporting) rather than its kind. */
const isStructural = (issue: ParseResult.ParseIssue): boolean => {
  switch (issue._tag) {
    case "Pointer":
      return true
    case "Composite":
      return !SchemaAST.isUnion(issue.ast) || !isLiteralUnion(issue.ast)
    case "Refinement":
    case "Transformation":
      return isStructural(issue.issue)
    default:
      return false
  }
}

// A union reports the one member whose shape matched (a tagged member, say); otherwise what it expected.
const collectUnion = (
  issue: ParseResult.Composite,
  path: ReadonlyArray<PropertyKey>,
  parent: SchemaAST.AST | undefined
): Array<FieldProblem> => {
  const members = (Array.isArray(issue.issues) ? issue.issues : [issue.issues]).filter(
    (member) => !(member._tag === "Type" && SchemaAST.isUndefinedKeyword(member.ast))
  )
  const structural = members.filter(isStructural)
  const [only] = structural
  if (structural.length === 1 && only !== undefined && !isLiteralUnion(issue.ast)) return collect(only, path, parent)
  return [{ path, field: dotted(path), reason: expected(issue.ast, issue.actual) }]
}

const unknownKey = (key: PropertyKey | undefined, parent: SchemaAST.AST | undefined): string => {
  const name = String(key)
  const shape = parent === undefined ? undefined : typeLiteralOf(parent)
  if (shape !== undefined && shape.propertySignatures.length === 0 && shape.indexSignatures.length > 0) {
    const [signature] = shape.indexSignatures
    return `key '${name}' is not allowed: expected ${signature === undefined ? "another key" : describeAst(signature.parameter)}`
  }
  const known = shape?.propertySignatures.map((signature) => String(signature.name)) ?? []
  const suggestion = closest(name, known)
  return `unknown key '${name}'${suggestion === undefined ? "" : ` (did you mean '${suggestion}'?)`}`
}

const typeLiteralOf = (ast: SchemaAST.AST): SchemaAST.TypeLiteral | undefined => {
  switch (ast._tag) {
    case "TypeLiteral":
      return ast
    case "Refinement":
      return typeLiteralOf(ast.from)
    case "Transformation":
      return typeLiteralOf(ast.from)
    case "Suspend":
      return typeLiteralOf(ast.f())
    default:
      return undefined
  }
}

const expected = (ast: SchemaAST.AST, actual: unknown): string => `expected ${describeAst(ast)}, got ${show(actual)}`

/** What a schema accepts, in words: its description if it has one, else its shape. */
const describeAst = (ast: SchemaAST.AST): string => {
  if (isLiteralUnion(ast)) {
    return `one of ${literalsOf(ast).map((literal) => show(literal)).join(", ")}`
  }
  switch (ast._tag) {
    case "Literal":
      return show(ast.literal)
    case "TypeLiteral":
      return ast.propertySignatures.length === 0 ? "a mapping" : "a mapping (key: value)"
    case "TupleType":
      return "a list"
    case "Union":
      return ast.types.filter((member) => !SchemaAST.isUndefinedKeyword(member)).map(describeAst).join(" or ")
    case "Transformation":
      return describeAst(ast.to)
    case "Suspend":
      return describeAst(ast.f())
    default: {
      const description = SchemaAST.getDescriptionAnnotation(ast)
      return description._tag === "Some" ? description.value : String(ast)
    }
  }
}

const literalsOf = (ast: SchemaAST.AST): ReadonlyArray<SchemaAST.LiteralValue> =>
  SchemaAST.isLiteral(ast) ? [ast.literal] : SchemaAST.isUnion(ast) ? ast.types.flatMap(literalsOf) : []

const isLiteralUnion = (ast: SchemaAST.AST): boolean =>
  SchemaAST.isUnion(ast) &&
  ast.types.every((member) => SchemaAST.isLiteral(member) || SchemaAST.isUndefinedKeyword(member) || isLiteralUnion(member))

/** A found value in words, short enough for one line. */
const show = (value: unknown): string => {
  if (value === undefined) return "nothing"
  if (value === null) return "null (an empty value)"
  if (typeof value === "string") {
    const quoted = JSON.stringify(value)
    return quoted.length > 60 ? `${quoted.slice(0, 57)}..."` : quoted
  }
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value)
  if (Array.isArray(value)) return "a list"
  if (value instanceof Uint8Array) return "binary data"
  if (typeof value === "object") return "a mapping"
  return typeof value
}

const dotted = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, key) =>
      typeof key === "number" ? `${acc}[${key}]` : acc === "" ? String(key) : `${acc}.${String(key)}`,
    ""
  )

/** The known name within edit distance 2 (or a third of the name) of a typo, if any. */
export const closest = (name: string, known: ReadonlyArray<string>): string | undefined => {
  const limit = Math.max(2, Math.floor(name.length / 3))
  let best: { readonly name: string; readonly distance: number } | undefined
  for (const candidate of known) {
    const distance = editDistance(name, candidate)
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { name: candidate, distance }
  }
  return best?.name
}

// Damerau (optimal string alignment) distance, so a swapped pair of letters costs one.
const editDistance = (a: string, b: string): number => {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0))
  )
  const cell = (i: number, j: number): number => rows[i]?.[j] ?? Number.POSITIVE_INFINITY
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let distance = Math.min(cell(i - 1, j) + 1, cell(i, j - 1) + 1, cell(i - 1, j - 1) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, cell(i - 2, j - 2) + 1)
      }
      const row = rows[i]
      if (row !== undefined) row[j] = distance
    }
  }
  return cell(a.length, b.length)
}

// ---------------------------------------------------------------------------------------------------
// Value paths → offsets in the document

/**
 * The offset of the key (in a mapping) or item (in a list) a path points at. Where the path leaves
 * the document (a missing key) it stops at the deepest node that exists, so the parent is reported.
 */
const offsetOf = (doc: Document, path: ReadonlyArray<PropertyKey>): number => {
  let node: unknown = doc.contents
  let offset = rangeStart(node) ?? 0
  for (const key of path) {
    if (isAlias(node)) node = node.resolve(doc)
    if (isMap(node)) {
      const pair = node.items.find((item) => keyText(item.key) === String(key))
      if (pair === undefined) break
      offset = rangeStart(pair.key) ?? rangeStart(pair.value) ?? offset
      node = pair.value
    } else if (isSeq(node) && typeof key === "number") {
      const item: unknown = node.items[key]
      if (item === undefined) break
      offset = rangeStart(item) ?? offset
      node = item
    } else {
      break
    }
  }
  return offset
}

const keyText = (key: unknown): string | undefined =>
  isScalar(key) ? String(key.value) : isNode(key) ? String(key.toJSON()) : key === null ? "" : String(key)

const rangeStart = (node: unknown): number | undefined => (isNode(node) ? node.range?.[0] : undefined)

const isNonEmpty = <A>(items: ReadonlyArray<A>): items is readonly [A, ...Array<A>] => items.length > 0
