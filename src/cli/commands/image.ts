// `hydravisor image build|list|rm`: root filesystems for the containerd runner, built from Debian's
// packages with debootstrap and cached by the hash of their recipe. No registry is involved.
import { Args, Command } from "@effect/cli"
import { NodeFileSystem } from "@effect/platform-node"
import { Console, Effect, Either } from "effect"
import { findTemplate, loadTemplates } from "../../adapters/config/load-templates.js"
import { imagePackages } from "../../domain/sandbox/template.js"
import { buildImage, listImages, removeImage, templateRecipe } from "../../runners/images/image-store.js"
import { cliConfig } from "../config.js"
import { resolveDataDir } from "../data-dir.js"
import { dataDirOption, jsonOption } from "../options.js"
import { printJson, printTable, say } from "../output.js"

const build = Command.make(
  "build",
  { dataDir: dataDirOption, json: jsonOption, template: Args.text({ name: "template" }).pipe(Args.withDescription("the template whose image to build")) },
  (o) =>
    Effect.gen(function* () {
      const { config } = yield* cliConfig()
      const catalog = yield* loadTemplates({ userDir: config.environments.templates_dir }).pipe(Effect.provide(NodeFileSystem.layer))
      const found = findTemplate(catalog, o.template)
      if (Either.isLeft(found)) return yield* Effect.fail(found.left)
      const recipe = templateRecipe(imagePackages(found.right.template))
      if (Either.isLeft(recipe)) return yield* Effect.fail(recipe.left)
      const image = yield* buildImage(resolveDataDir(o.dataDir), recipe.right, { onProgress: (line) => Console.error(`  ${line}`) })
      yield* o.json
        ? printJson(image)
        : say(`image ${image.hash.slice(0, 16)} for ${o.template}: ${image.rootfs} (${(image.sizeBytes / 1e6).toFixed(0)} MB, built in ${(image.buildMs / 1000).toFixed(1)} s)`)
    })
).pipe(Command.withDescription("Build (or reuse) a template's root filesystem from Debian: debootstrap minbase plus its packages; progress on stderr."))

const list = Command.make("list", { dataDir: dataDirOption, json: jsonOption }, (o) =>
  Effect.gen(function* () {
    const images = yield* listImages(resolveDataDir(o.dataDir))
    if (o.json) return yield* printJson(images)
    if (images.length === 0) return yield* say("no images")
    yield* printTable(["HASH", "PACKAGES", "SIZE MB", "BUILT"], images.map((i) => [i.hash.slice(0, 16), i.recipe.packages.join(",") || "-", (i.sizeBytes / 1e6).toFixed(0), i.builtAt]))
  })
).pipe(Command.withDescription("List built images."))

const rm = Command.make("rm", { dataDir: dataDirOption, hash: Args.text({ name: "hash" }).pipe(Args.withDescription("the image's hash (a unique prefix will do)")) }, (o) =>
  Effect.gen(function* () {
    const dataDir = resolveDataDir(o.dataDir)
    const matches = (yield* listImages(dataDir)).filter((i) => i.hash.startsWith(o.hash))
    if (matches.length !== 1) return yield* Effect.fail(new Error(matches.length === 0 ? `no image ${o.hash}` : `${o.hash} names ${matches.length} images; give more of the hash`))
    yield* removeImage(dataDir, matches[0]!.hash)
    yield* say(`removed image ${matches[0]!.hash.slice(0, 16)}`)
  })
).pipe(Command.withDescription("Remove a built image."))

export const imageCommand = Command.make("image").pipe(Command.withDescription("Root filesystems for containers, built from Debian"), Command.withSubcommands([build, list, rm]))
