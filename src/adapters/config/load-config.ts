// Loads the configuration in layers, defaults < file < environment < flags, every layer decoded with
// the same Schema, and remembers where each key's value came from so `hydravisor config show` can say.
import { FileSystem } from "@effect/platform"
import { Data, Effect, Either, Schema, SchemaAST } from "effect"
import * as path from "node:path"
import { Config, ConfigInput } from "../../domain/config/config.js"
import { decodeParsedYaml, decodeValue, parseYaml } from "./yaml-decode.js"
import type { FieldProblem, InvalidYaml, ParsedYaml } from "./yaml-decode.js"

export type ConfigSource = Data.TaggedEnum<{
  Default: {}
  File: { readonly file: string; readonly line: number }
  Env: { readonly variable: string }
  Flag: {}
}>
export const ConfigSource = Data.taggedEnum<ConfigSource>()

export interface ConfigEntry {
  /** Dotted key, as in the file: `server.mcp_port`. */
  readonly key: string
  /** The effective value; `undefined` for an optional key nobody set. */
  readonly value: unknown
  readonly source: ConfigSource
}

export interface LoadedConfig {
  readonly config: Config
  /** The config file consulted (whether or not it exists). */
  readonly file: string
  readonly fileFound: boolean
  /** One entry per key, in Schema order. */
  readonly entries: ReadonlyArray<ConfigEntry>
}

export interface LoadConfigOptions {
  /** The process environment (`process.env` in the CLI; a plain record in tests). */
  readonly env: Readonly<Record<string, string | undefined>>
  readonly home: string
  /** Keys set on the command line; they win over everything else. */
  readonly flags?: ConfigInput
}

export class ConfigFileUnreadable extends Data.TaggedError("ConfigFileUnreadable")<{
  readonly file: string
  readonly message: string
}> {}

export class InvalidConfigVariable extends Data.TaggedError("InvalidConfigVariable")<{
  readonly variable: string
  readonly field: string
  readonly reason: string
  readonly message: string
}> {}

export class InvalidConfigFlag extends Data.TaggedError("InvalidConfigFlag")<{
  readonly field: string
  readonly reason: string
  readonly message: string
}> {}

export type ConfigError = InvalidYaml | ConfigFileUnreadable | InvalidConfigVariable | InvalidConfigFlag

/** `$HYDRAVISOR_CONFIG`, else `$XDG_CONFIG_HOME/hydravisor/config.yaml`, else `~/.config/hydravisor/config.yaml`. */
export const configFilePath = (env: LoadConfigOptions["env"], home: string): string => {
  const explicit = env["HYDRAVISOR_CONFIG"]
  if (explicit !== undefined && explicit !== "") return expandHome(explicit, home)
  const xdg = env["XDG_CONFIG_HOME"]
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(home, ".config")
  return path.join(base, "hydravisor", "config.yaml")
}

export const expandHome = (file: string, home: string): string =>
  file === "~" ? home : file.startsWith("~/") ? path.join(home, file.slice(2)) : file

/** Every settable key path, read off the Schema, so nothing here lists keys by hand. */
export const configKeys: ReadonlyArray<ReadonlyArray<string>> = leafPaths(ConfigInput.ast, [])

/** `server.mcp_port` → `HYDRAVISOR_SERVER_MCP_PORT`. */
export const envVariableFor = (key: ReadonlyArray<string>): string => `HYDRAVISOR_${key.join("_").toUpperCase()}`

export const formatSource = (source: ConfigSource): string =>
  ConfigSource.$match(source, {
    Default: () => "default",
    File: ({ file, line }) => `${file}:${line}`,
    Env: ({ variable }) => `env ${variable}`,
    Flag: () => "flag"
  })

export const loadConfig = (
  options: LoadConfigOptions
): Effect.Effect<LoadedConfig, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const file = configFilePath(options.env, options.home)
    const parsed = yield* readConfigFile(file)
    const fromFile: unknown = parsed === undefined ? {} : yield* decodeParsedYaml(ConfigInput, parsed)
    const fromEnv = yield* environmentLayer(options.env)
    const fromFlags = yield* flagLayer(options.flags ?? {})
    const merged = [fromFile, fromEnv.input, fromFlags].reduce(mergeLayers, {})
    const decoded = yield* Schema.decodeUnknown(Config)(merged).pipe(Effect.orDie)
    const config = withHomeExpanded(decoded, options.home)
    const entries = configKeys.map((key): ConfigEntry => ({
      key: key.join("."),
      value: valueAt(config, key),
      source: valueAt(fromFlags, key) !== undefined
        ? ConfigSource.Flag()
        : fromEnv.variables.has(key.join("."))
        ? ConfigSource.Env({ variable: envVariableFor(key) })
        : parsed !== undefined && valueAt(fromFile, key) !== undefined
        ? ConfigSource.File({ file, line: parsed.locate(key).line })
        : ConfigSource.Default()
    }))
    return { config, file, fileFound: parsed !== undefined, entries }
  })

// A missing file is fine (everything defaults); an unreadable or invalid one is an error.
const readConfigFile = (file: string): Effect.Effect<ParsedYaml | undefined, ConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.catchIf(
        (error) => error._tag === "SystemError" && error.reason === "NotFound",
        () => Effect.succeed(undefined)
      ),
      Effect.mapError((error) => new ConfigFileUnreadable({ file, message: `${file}: cannot read: ${error.message}` }))
    )
    return text === undefined ? undefined : yield* parseYaml(file, text)
  })

const environmentLayer = (env: LoadConfigOptions["env"]) =>
  Effect.gen(function*() {
    let input: unknown = {}
    const variables = new Set<string>()
    for (const key of configKeys) {
      const variable = envVariableFor(key)
      const raw = env[variable]
      if (raw === undefined) continue
      const layer = nest(key, fromEnvText(leafAst(ConfigInput.ast, key), raw))
      const decoded = decodeValue(ConfigInput, layer)
      if (Either.isLeft(decoded)) {
        const problem = firstProblem(decoded.left, key)
        return yield* new InvalidConfigVariable({
          variable,
          field: problem.field,
          reason: problem.reason,
          message: `environment variable ${variable}: ${problem.field}: ${problem.reason}`
        })
      }
      input = mergeLayers(input, layer)
      variables.add(key.join("."))
    }
    return { input, variables }
  })

const flagLayer = (flags: ConfigInput): Effect.Effect<unknown, InvalidConfigFlag> => {
  const input = withoutUndefined(flags)
  return Either.match(decodeValue(ConfigInput, input), {
    onLeft: (problems) => {
      const problem = firstProblem(problems, [])
      return Effect.fail(new InvalidConfigFlag({ ...problem, message: `flag ${problem.field}: ${problem.reason}` }))
    },
    onRight: () => Effect.succeed(input)
  })
}

const firstProblem = (problems: ReadonlyArray<FieldProblem>, key: ReadonlyArray<string>) =>
  problems[0] ?? { field: key.join("."), reason: "invalid value" }

const withHomeExpanded = (config: Config, home: string): Config => ({
  ...config,
  environments: { ...config.environments, templates_dir: expandHome(config.environments.templates_dir, home) },
  ledger: config.ledger.witness_file === undefined
    ? config.ledger
    : { ...config.ledger, witness_file: expandHome(config.ledger.witness_file, home) }
})

// Environment values are text; numbers and booleans are read as such, so the Schema checks the rest
// (and `HYDRAVISOR_SERVER_MCP_PORT=abc` is reported as the string it is).
const fromEnvText = (ast: SchemaAST.AST | undefined, raw: string): unknown => {
  switch (ast === undefined ? "string" : baseKind(ast)) {
    case "number":
      return /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/.test(raw) ? Number(raw) : raw
    case "boolean": {
      const lower = raw.trim().toLowerCase()
      return lower === "true" || lower === "1" ? true : lower === "false" || lower === "0" ? false : raw
    }
    default:
      return raw
  }
}

const baseKind = (ast: SchemaAST.AST): "number" | "boolean" | "string" =>
  SchemaAST.isRefinement(ast)
    ? baseKind(ast.from)
    : SchemaAST.isNumberKeyword(ast)
    ? "number"
    : SchemaAST.isBooleanKeyword(ast)
    ? "boolean"
    : "string"

function leafPaths(ast: SchemaAST.AST, prefix: ReadonlyArray<string>): Array<ReadonlyArray<string>> {
  if (!SchemaAST.isTypeLiteral(ast) || ast.propertySignatures.length === 0) return [prefix]
  return ast.propertySignatures.flatMap((signature) => leafPaths(signature.type, [...prefix, String(signature.name)]))
}

const leafAst = (ast: SchemaAST.AST, key: ReadonlyArray<string>): SchemaAST.AST | undefined =>
  key.reduce<SchemaAST.AST | undefined>(
    (current, name) =>
      current !== undefined && SchemaAST.isTypeLiteral(current)
        ? current.propertySignatures.find((signature) => signature.name === name)?.type
        : undefined,
    ast
  )

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const mergeLayers = (base: unknown, over: unknown): unknown => {
  if (!isRecord(base) || !isRecord(over)) return over
  const merged: Record<string, unknown> = { ...base }
  for (const [key, value] of Object.entries(over)) merged[key] = key in base ? mergeLayers(base[key], value) : value
  return merged
}

const withoutUndefined = (value: unknown): unknown =>
  isRecord(value)
    ? Object.fromEntries(
      Object.entries(value).filter(([, inner]) => inner !== undefined).map(([key, inner]) => [key, withoutUndefined(inner)])
    )
    : value

const nest = (key: ReadonlyArray<string>, value: unknown): unknown =>
  key.reduceRight<unknown>((inner, name) => ({ [name]: inner }), value)

const valueAt = (value: unknown, key: ReadonlyArray<string>): unknown =>
  key.reduce<unknown>((current, name) => (isRecord(current) && Object.hasOwn(current, name) ? current[name] : undefined), value)
