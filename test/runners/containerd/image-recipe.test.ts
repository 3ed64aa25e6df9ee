// Image recipes without I/O: the cache key, the debootstrap command line (and back), and the mirror
// found in apt sources files of both formats.
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import * as fs from "node:fs"
import { hostMirror } from "../../../src/runners/images/image-store.js"
import { canonicalRecipe, debootstrapArgs, mirrorFromSources, parseDebootstrapArgs, recipeHash } from "../../../src/runners/images/recipe.js"
import type { ImageRecipe } from "../../../src/runners/images/recipe.js"

const recipe: ImageRecipe = { suite: "bookworm", variant: "minbase", packages: ["python3", "git"], mirror: "http://deb.debian.org/debian" }

const packageName = fc.stringMatching(/^[a-z0-9][a-z0-9+.-]{1,15}$/)
const recipeArbitrary: fc.Arbitrary<ImageRecipe> = fc.record({
  suite: fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/),
  variant: fc.constantFrom("minbase" as const, "buildd" as const),
  packages: fc.array(packageName, { maxLength: 6 }),
  mirror: fc.stringMatching(/^http:\/\/[a-z0-9.]{1,20}\/[a-z0-9/]{0,20}$/)
})

describe("recipeHash", () => {
  it("is the SHA-256 of the canonical recipe: package order, duplicates and a trailing slash do not matter", () => {
    expect(recipeHash(recipe)).toMatch(/^[0-9a-f]{64}$/)
    expect(recipeHash({ ...recipe, packages: ["git", "python3", "git"] })).toBe(recipeHash(recipe))
    expect(recipeHash({ ...recipe, mirror: "http://deb.debian.org/debian/" })).toBe(recipeHash(recipe))
    fc.assert(fc.property(recipeArbitrary, (r) => recipeHash({ ...r, packages: [...r.packages].reverse() }) === recipeHash(r)))
  })

  it("changes with every part of the recipe", () => {
    const base = recipeHash(recipe)
    for (const changed of [
      { ...recipe, suite: "trixie" },
      { ...recipe, variant: "buildd" as const },
      { ...recipe, packages: ["python3"] },
      { ...recipe, mirror: "http://mirror.example/debian" }
    ]) {
      expect(recipeHash(changed)).not.toBe(base)
    }
  })
})

describe("debootstrapArgs", () => {
  it("writes --variant, --include with sorted packages, suite, target, mirror", () => {
    expect(debootstrapArgs(recipe, "/images/x/rootfs")).toEqual([
      "--variant=minbase",
      "--include=git,python3",
      "bookworm",
      "/images/x/rootfs",
      "http://deb.debian.org/debian"
    ])
    expect(debootstrapArgs({ ...recipe, packages: [] }, "/t")).toEqual(["--variant=minbase", "bookworm", "/t", "http://deb.debian.org/debian"])
  })

  it("reads back to the canonical recipe", () => {
    fc.assert(
      fc.property(recipeArbitrary, (r) => {
        const parsed = Either.getOrThrow(parseDebootstrapArgs(debootstrapArgs(r, "/target")))
        expect(parsed).toEqual({ recipe: canonicalRecipe(r), target: "/target" })
      })
    )
  })
})

describe("mirrorFromSources", () => {
  it("finds the suite's URI in deb822 .sources files", () => {
    const text = [
      "Types: deb-src",
      "URIs: http://src.example/debian",
      "Suites: bookworm",
      "",
      "Types: deb",
      "# a comment",
      "URIs: http://deb.example/debian/",
      "Suites: bookworm bookworm-updates",
      "Components: main",
      "",
      "Types: deb",
      "URIs: http://security.example/debian-security",
      "Suites: bookworm-security"
    ].join("\n")
    expect(mirrorFromSources([{ path: "/etc/apt/sources.list.d/debian.sources", text }], "bookworm")).toEqual(Either.right("http://deb.example/debian"))
    expect(mirrorFromSources([{ path: "x.sources", text: text.replace("Types: deb\n#", "Enabled: no\nTypes: deb\n#") }], "bookworm")).toEqual(
      Either.left(expect.stringContaining("no enabled")) as never
    )
  })

  it("finds it in one-line sources.list files, options and comments included", () => {
    const text = "# deb http://old.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main contrib\n"
    expect(mirrorFromSources([{ path: "/etc/apt/sources.list", text }], "bookworm")).toEqual(Either.right("http://one.example/debian"))
    expect(Either.isLeft(mirrorFromSources([{ path: "/etc/apt/sources.list", text }], "trixie"))).toBe(true)
  })

  it("reads this host's apt sources", () => {
    const mirror = hostMirror("bookworm")
    expect(Either.isRight(mirror)).toBe(true)
    const sources = fs.readFileSync("/etc/apt/sources.list.d/debian.sources", "utf8")
    expect(sources).toContain(Either.getOrThrow(mirror))
  })
})
