// The image store against the real debootstrap: the cached test image, failures that name their step
// and show debootstrap's last lines, listing and removal, and removal never reaching through a mount.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { buildImage, findImage, imagesDir, listImages, removeImage, removeTree, templateRecipe } from "../../../src/runners/images/image-store.js"
import type { Image } from "../../../src/runners/images/image-store.js"
import { recipeHash } from "../../../src/runners/images/recipe.js"
import { IMAGE_REQUIREMENTS } from "../../../src/runners/containerd/mapping.js"
import { TEST_DATA_DIR, testImage } from "./fixture.js"

const tempDataDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "hv-images-"))),
  (dir) => removeTree(dir).pipe(Effect.orDie)
)

const collect = () => {
  const lines: Array<string> = []
  return { lines, onProgress: (line: string) => Effect.sync(() => void lines.push(line)) }
}

describe("image store", () => {
  it("builds the minbase test image once; later builds of the recipe find it cached", { timeout: 600_000 }, async () => {
    const image = await testImage()
    expect(image.rootfs).toBe(path.join(TEST_DATA_DIR, "images", image.hash, "rootfs"))
    expect(image.hash).toBe(recipeHash(image.recipe))
    expect(image.recipe).toMatchObject({ suite: "bookworm", variant: "minbase", packages: [] })
    for (const needed of IMAGE_REQUIREMENTS) expect(fs.existsSync(path.join(image.rootfs, needed)), needed).toBe(true)
    console.log(`test image: ${(image.sizeBytes / 1e6).toFixed(0)} MB, first build took ${(image.buildMs / 1000).toFixed(1)} s`)
    // found, not built again: no build step reports progress
    const progress = collect()
    const again = await Effect.runPromise(buildImage(TEST_DATA_DIR, image.recipe, progress))
    expect(again).toEqual(image)
    expect(progress.lines).toEqual([])
    const listed = await Effect.runPromise(listImages(TEST_DATA_DIR))
    expect(listed.map((i: Image) => i.hash)).toContain(image.hash)
    expect(await Effect.runPromise(findImage(TEST_DATA_DIR, image.hash))).toEqual(image)
  })

  it.scopedLive("reports a failed build with its step and debootstrap's last lines, streaming progress meanwhile", () =>
    Effect.gen(function* () {
      const dir = yield* tempDataDir
      const recipe = Either.getOrThrow(templateRecipe(["no-such-package-hydravisor"]))
      const progress = collect()
      const failure = yield* Effect.flip(buildImage(dir, recipe, progress))
      expect(failure._tag).toBe("ImageBuildFailed")
      expect(failure.step).toBe("debootstrap")
      expect(failure.recipeHash).toBe(recipeHash(recipe))
      expect(failure.outputTail.join("\n")).toContain("no-such-package-hydravisor")
      expect(failure.message).toContain("debootstrap failed")
      expect(progress.lines[0]).toContain("--include=no-such-package-hydravisor")
      expect(progress.lines.some((line) => line.startsWith("I: Retrieving"))).toBe(true)
      expect(fs.readdirSync(imagesDir(dir))).toEqual([])
      expect(yield* listImages(dir)).toEqual([])
    })
  )

  it.scopedLive("fails at the mirror when it cannot be reached, and takes over a dead builder's lock", () =>
    Effect.gen(function* () {
      const dir = yield* tempDataDir
      const recipe = { suite: "bookworm", variant: "minbase" as const, packages: [], mirror: "http://127.0.0.1:9/debian" }
      fs.mkdirSync(imagesDir(dir), { recursive: true })
      fs.writeFileSync(path.join(imagesDir(dir), `.lock-${recipeHash(recipe)}`), "999999999")
      const failure = yield* Effect.flip(buildImage(dir, recipe))
      expect(failure).toMatchObject({ _tag: "ImageBuildFailed", step: "debootstrap" })
      expect(failure.outputTail.length).toBeGreaterThan(0)
      expect(fs.readdirSync(imagesDir(dir))).toEqual([])
    })
  )

  it.scopedLive("names a missing debootstrap and how to install it", () =>
    Effect.gen(function* () {
      const dir = yield* tempDataDir
      const recipe = Either.getOrThrow(templateRecipe([]))
      const failure = yield* Effect.flip(buildImage(dir, recipe, { debootstrap: "/nonexistent/debootstrap" }))
      expect(failure).toMatchObject({ _tag: "ImageBuildFailed", step: "find debootstrap" })
      expect(failure.message).toContain("apt-get install -y debootstrap")
    })
  )

  it.scopedLive("lists and removes images; an unknown hash is ImageNotFound", () =>
    Effect.gen(function* () {
      const dir = yield* tempDataDir
      const recipe = Either.getOrThrow(templateRecipe(["fake"]))
      const hash = recipeHash(recipe)
      const imageDir = path.join(imagesDir(dir), hash)
      fs.mkdirSync(path.join(imageDir, "rootfs", "etc"), { recursive: true })
      const image: Image = { hash, recipe, rootfs: path.join(imageDir, "rootfs"), builtAt: new Date().toISOString(), buildMs: 1, sizeBytes: 0 }
      fs.writeFileSync(path.join(imageDir, "image.json"), JSON.stringify(image))
      fs.mkdirSync(path.join(imagesDir(dir), ".build-incomplete"))
      expect(yield* listImages(dir)).toEqual([image])
      yield* removeImage(dir, hash)
      expect(fs.existsSync(imageDir)).toBe(false)
      expect(yield* listImages(dir)).toEqual([])
      expect((yield* Effect.flip(removeImage(dir, hash)))._tag).toBe("ImageNotFound")
      expect((yield* Effect.flip(removeImage(dir, "../../etc")))._tag).toBe("ImageNotFound")
    })
  )

  it.scopedLive("removal unmounts what a build left mounted and never deletes through the mount", () =>
    Effect.gen(function* () {
      const dir = yield* tempDataDir
      const outside = fs.mkdtempSync(path.join(os.tmpdir(), "hv-outside-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(outside, { recursive: true, force: true })))
      fs.writeFileSync(path.join(outside, "precious"), "keep me")
      const tree = path.join(dir, "tree", "rootfs", "dev")
      fs.mkdirSync(tree, { recursive: true })
      execFileSync("mount", ["--bind", outside, tree])
      yield* removeTree(path.join(dir, "tree"))
      expect(fs.existsSync(path.join(dir, "tree"))).toBe(false)
      expect(fs.readFileSync(path.join(outside, "precious"), "utf8")).toBe("keep me")
      expect(fs.readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(tree)
    })
  )
})
