// An image recipe and everything derived from it without I/O: its canonical form and content hash (the
// cache key), the debootstrap command line, and the Debian mirror found in the host's apt sources.
import { Either, Schema } from "effect"
import { createHash } from "node:crypto"

export const ImageRecipe = Schema.Struct({
  suite: Schema.String.pipe(Schema.pattern(/^[a-z][a-z0-9-]*$/)),
  variant: Schema.Literal("minbase", "buildd"),
  /** Debian package names given to --include; order and duplicates do not matter. */
  packages: Schema.Array(Schema.String.pipe(Schema.pattern(/^[a-z0-9][a-z0-9+.-]+$/))),
  mirror: Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s,]+$/))
})
export interface ImageRecipe extends Schema.Schema.Type<typeof ImageRecipe> {}

export const DEFAULT_SUITE = "bookworm"

/** Sorted, de-duplicated packages and a mirror without a trailing slash: equal recipes hash equal. */
export const canonicalRecipe = (recipe: ImageRecipe): ImageRecipe => ({
  suite: recipe.suite,
  variant: recipe.variant,
  packages: [...new Set(recipe.packages)].sort(),
  mirror: recipe.mirror.replace(/\/+$/, "")
})

/** SHA-256 (hex) of the canonical recipe's JSON with a fixed key order. */
export const recipeHash = (recipe: ImageRecipe): string => {
  const r = canonicalRecipe(recipe)
  return createHash("sha256")
    .update(JSON.stringify({ suite: r.suite, variant: r.variant, packages: r.packages, mirror: r.mirror }))
    .digest("hex")
}

export const debootstrapArgs = (recipe: ImageRecipe, target: string): ReadonlyArray<string> => {
  const r = canonicalRecipe(recipe)
  return [`--variant=${r.variant}`, ...(r.packages.length > 0 ? [`--include=${r.packages.join(",")}`] : []), r.suite, target, r.mirror]
}

/** Reads back what `debootstrapArgs` writes. */
export const parseDebootstrapArgs = (argv: ReadonlyArray<string>): Either.Either<{ readonly recipe: ImageRecipe; readonly target: string }, string> => {
  const [variantArg, ...rest] = argv
  const variant = /^--variant=(minbase|buildd)$/.exec(variantArg ?? "")?.[1] as ImageRecipe["variant"] | undefined
  if (variant === undefined) return Either.left(`expected --variant=, got ${variantArg}`)
  const include = rest[0]?.startsWith("--include=") === true ? rest.shift()?.slice("--include=".length) : undefined
  const [suite, target, mirror, ...extra] = rest
  if (suite === undefined || target === undefined || mirror === undefined || extra.length > 0) return Either.left(`expected SUITE TARGET MIRROR, got ${rest.join(" ")}`)
  return Either.right({ recipe: { suite, variant, packages: include === undefined ? [] : include.split(","), mirror }, target })
}

export interface SourcesFile {
  readonly path: string
  readonly text: string
}

interface Source {
  readonly types: ReadonlyArray<string>
  readonly uris: ReadonlyArray<string>
  readonly suites: ReadonlyArray<string>
  readonly enabled: boolean
}

/** deb822 stanzas (`.sources` files): blank-line separated `Field: value` blocks, `#` comments. */
const deb822Sources = (text: string): ReadonlyArray<Source> =>
  text
    .split(/\n\s*\n/)
    .map((stanza) => {
      const fields = new Map<string, string>()
      let last: string | null = null
      for (const line of stanza.split("\n")) {
        if (line.startsWith("#")) continue
        if (/^\s/.test(line) && last !== null) {
          fields.set(last, `${fields.get(last) ?? ""} ${line.trim()}`)
          continue
        }
        const colon = line.indexOf(":")
        if (colon <= 0) continue
        last = line.slice(0, colon).trim().toLowerCase()
        fields.set(last, line.slice(colon + 1).trim())
      }
      const words = (name: string) => (fields.get(name) ?? "").split(/\s+/).filter((w) => w !== "")
      return { types: words("types"), uris: words("uris"), suites: words("suites"), enabled: (fields.get("enabled") ?? "yes").toLowerCase() !== "no" }
    })
    .filter((s) => s.uris.length > 0)

/** One-line format (`sources.list`): `deb [options] URI SUITE COMPONENT...`. */
const oneLineSources = (text: string): ReadonlyArray<Source> =>
  text.split("\n").flatMap((raw) => {
    const line = raw.replace(/#.*$/, "").replace(/\[[^\]]*\]/, "").trim()
    const [type, uri, suite] = line.split(/\s+/)
    return type === undefined || uri === undefined || suite === undefined ? [] : [{ types: [type], uris: [uri], suites: [suite], enabled: true }]
  })

/** The first enabled `deb` source carrying `suite` among the host's apt sources files. */
export const mirrorFromSources = (files: ReadonlyArray<SourcesFile>, suite: string): Either.Either<string, string> => {
  for (const file of files) {
    const sources = file.path.endsWith(".sources") ? deb822Sources(file.text) : oneLineSources(file.text)
    const match = sources.find((s) => s.enabled && s.types.includes("deb") && s.suites.includes(suite) && /^https?:\/\//.test(s.uris[0] ?? ""))
    if (match?.uris[0] !== undefined) return Either.right(match.uris[0].replace(/\/+$/, ""))
  }
  return Either.left(`no enabled "deb" source for suite ${suite} with an http(s) URI in ${files.map((f) => f.path).join(", ") || "(no apt sources files)"}`)
}
