// Sandbox templates: the built-ins shipped in the package's `templates/`, then the user's
// `environments.templates_dir`, where a template of the same name replaces the built-in.
import { FileSystem } from "@effect/platform"
import { Data, Effect, Either } from "effect"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Template } from "../../domain/sandbox/template.js"
import { decodeParsedYaml, parseYaml } from "./yaml-decode.js"
import type { InvalidYaml } from "./yaml-decode.js"

export interface LoadedTemplate {
  readonly template: Template
  readonly origin: "builtin" | "user"
  /** The file it was read from, as shown in messages. */
  readonly file: string
}

/** Templates by name, sorted by name. */
export type TemplateCatalog = ReadonlyMap<string, LoadedTemplate>

export class TemplateNotFound extends Data.TaggedError("TemplateNotFound")<{
  readonly name: string
  readonly available: ReadonlyArray<string>
  readonly message: string
}> {}

/** A template's `name:` must be its file name, so `--template x` and `x.yaml` never disagree. */
export class TemplateNameMismatch extends Data.TaggedError("TemplateNameMismatch")<{
  readonly file: string
  readonly line: number
  readonly column: number
  readonly name: string
  readonly expected: string
  readonly message: string
}> {}

export class TemplatesUnreadable extends Data.TaggedError("TemplatesUnreadable")<{
  readonly dir: string
  readonly message: string
}> {}

export type TemplateLoadError = InvalidYaml | TemplateNameMismatch | TemplatesUnreadable

export interface LoadTemplatesOptions {
  /** `environments.templates_dir`, with `~` already expanded. A missing directory has no templates. */
  readonly userDir: string
  /** Where the built-ins are; the package's `templates/` unless a test says otherwise. */
  readonly builtinDir?: string
}

/**
 * The package root: the nearest directory above this module with a package.json. The same walk works
 * from `src/adapters/config/` (tsx, vitest) and from the compiled `dist/src/adapters/config/`.
 */
export const packageRoot: Effect.Effect<string, TemplatesUnreadable, FileSystem.FileSystem> = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const start = path.dirname(fileURLToPath(import.meta.url))
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (yield* fs.exists(path.join(dir, "package.json")).pipe(Effect.orElseSucceed(() => false))) return dir
    if (path.dirname(dir) === dir) {
      return yield* new TemplatesUnreadable({ dir: start, message: `no package.json above ${start}` })
    }
  }
})

export const builtinTemplatesDir: Effect.Effect<string, TemplatesUnreadable, FileSystem.FileSystem> = packageRoot.pipe(
  Effect.map((root) => path.join(root, "templates"))
)

export const loadTemplates = (
  options: LoadTemplatesOptions
): Effect.Effect<TemplateCatalog, TemplateLoadError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const builtinDir = options.builtinDir ?? (yield* builtinTemplatesDir)
    const builtins = yield* loadDirectory(builtinDir, "builtin", path.dirname(builtinDir))
    const user = yield* loadDirectory(options.userDir, "user", undefined)
    const byName = new Map<string, LoadedTemplate>()
    for (const loaded of [...builtins, ...user]) byName.set(loaded.template.name, loaded)
    return new Map([...byName].sort(([a], [b]) => a.localeCompare(b)))
  })

export const findTemplate = (catalog: TemplateCatalog, name: string): Either.Either<LoadedTemplate, TemplateNotFound> => {
  const found = catalog.get(name)
  if (found !== undefined) return Either.right(found)
  const available = [...catalog.keys()]
  return Either.left(
    new TemplateNotFound({
      name,
      available,
      message: `no template named '${name}'; available: ${available.length === 0 ? "none" : available.join(", ")}`
    })
  )
}

/** Reads one template file; `shownAs` is the path used in messages. */
export const loadTemplateFile = (
  file: string,
  shownAs: string,
  origin: LoadedTemplate["origin"]
): Effect.Effect<LoadedTemplate, TemplateLoadError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) => new TemplatesUnreadable({ dir: path.dirname(file), message: `${shownAs}: cannot read: ${error.message}` }))
    )
    const parsed = yield* parseYaml(shownAs, text)
    const template = yield* decodeParsedYaml(Template, parsed)
    const expected = path.basename(file).replace(/\.ya?ml$/, "")
    if (template.name !== expected) {
      const { line, column } = parsed.locate(["name"])
      return yield* new TemplateNameMismatch({
        file: shownAs,
        line,
        column,
        name: template.name,
        expected,
        message: `${shownAs}:${line}:${column}: name: '${template.name}' does not match the file name; expected '${expected}'`
      })
    }
    return { template, origin, file: shownAs }
  })

const loadDirectory = (
  dir: string,
  origin: LoadedTemplate["origin"],
  shownRelativeTo: string | undefined
): Effect.Effect<ReadonlyArray<LoadedTemplate>, TemplateLoadError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const names = yield* fs.readDirectory(dir).pipe(
      Effect.catchIf(
        (error) => origin === "user" && error._tag === "SystemError" && error.reason === "NotFound",
        () => Effect.succeed([])
      ),
      Effect.mapError((error) => new TemplatesUnreadable({ dir, message: `${dir}: cannot list templates: ${error.message}` }))
    )
    const files = names.filter((name) => /\.ya?ml$/.test(name)).sort()
    return yield* Effect.forEach(files, (name) => {
      const file = path.join(dir, name)
      return loadTemplateFile(file, shownRelativeTo === undefined ? file : path.relative(shownRelativeTo, file), origin)
    })
  })
