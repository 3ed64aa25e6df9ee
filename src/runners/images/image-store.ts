// Root filesystems built from Debian's packages with debootstrap, without a registry, cached under
// <dataDir>/images/<sha256 of the recipe>/{rootfs,image.json}. A build runs in a private directory and
// is renamed into place when complete, under a per-recipe lock, so concurrent builders of one recipe
// build it once and a crashed build never looks finished.
import { Effect, Either, Schema, Stream } from "effect"
import { execFile, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { describeCause } from "../errors.js"
import { firstExecutable } from "../executables.js"
import { ImageBuildFailed, ImageNotFound, ImageStoreFailure } from "./errors.js"
import { canonicalRecipe, debootstrapArgs, DEFAULT_SUITE, ImageRecipe, mirrorFromSources, recipeHash } from "./recipe.js"
import type { SourcesFile } from "./recipe.js"

export const Image = Schema.Struct({
  hash: Schema.String,
  recipe: ImageRecipe,
  /** The directory a sandbox spec's `rootfs: { kind: "image", path }` names. */
  rootfs: Schema.String,
  builtAt: Schema.String,
  buildMs: Schema.Number,
  sizeBytes: Schema.Number
})
export interface Image extends Schema.Schema.Type<typeof Image> {}

export interface BuildOptions {
  /** Receives each line debootstrap prints, and the store's own step lines. */
  readonly onProgress?: (line: string) => Effect.Effect<void>
  /** debootstrap's path; found on the host when left out. */
  readonly debootstrap?: string
}

const HOST_ENV: Readonly<Record<string, string>> = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" }
const TAIL_LINES = 30
const METADATA = "image.json"
const LOCK_POLL_MS = 500

export const imagesDir = (dataDir: string): string => path.join(dataDir, "images")

const storeIo = <A>(operation: string, at: string, run: () => A) =>
  Effect.try({ try: run, catch: (cause) => new ImageStoreFailure({ path: at, operation, reason: describeCause(cause) }) })

const run = (file: string, args: ReadonlyArray<string>) =>
  Effect.async<string, string>((resume) => {
    execFile(file, args, { env: HOST_ENV }, (error, stdout, stderr) =>
      resume(error === null ? Effect.succeed(stdout) : Effect.fail(stderr.trim() || error.message))
    )
  })

/**
 * Removes a directory debootstrap may have left mounts in (proc, sys, a bind of /dev): unmounts them
 * first and never crosses into another filesystem, so a host /dev bound inside is never emptied.
 */
export const removeTree = (dir: string): Effect.Effect<void, string> =>
  Effect.gen(function* () {
    if (!fs.existsSync(dir)) return
    const root = fs.realpathSync(dir)
    const mounts = fs
      .readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((line) => line.split(" ")[4]?.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
      .filter((mountPoint): mountPoint is string => mountPoint !== undefined && mountPoint.startsWith(`${root}/`))
      .sort((a, b) => b.length - a.length)
    for (const mountPoint of mounts) yield* run("umount", ["-l", mountPoint])
    yield* run("rm", ["-rf", "--one-file-system", "--", root])
  })

/** The host's Debian mirror, from /etc/apt/sources.list and /etc/apt/sources.list.d/. */
export const hostMirror = (suite: string = DEFAULT_SUITE, aptDir = "/etc/apt"): Either.Either<string, string> => {
  const files: Array<SourcesFile> = []
  const read = (file: string) => {
    try {
      files.push({ path: file, text: fs.readFileSync(file, "utf8") })
    } catch {
      return
    }
  }
  read(path.join(aptDir, "sources.list"))
  const dir = path.join(aptDir, "sources.list.d")
  for (const name of fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []) {
    if (name.endsWith(".sources") || name.endsWith(".list")) read(path.join(dir, name))
  }
  return mirrorFromSources(files, suite)
}

/** A minbase recipe for `packages` from the host's mirror. */
export const templateRecipe = (packages: ReadonlyArray<string>, suite: string = DEFAULT_SUITE): Either.Either<ImageRecipe, ImageBuildFailed> =>
  Either.mapBoth(hostMirror(suite), {
    onLeft: (reason) => new ImageBuildFailed({ recipeHash: "", step: "find the Debian mirror", reason, outputTail: [] }),
    onRight: (mirror) => canonicalRecipe({ suite, variant: "minbase", packages, mirror })
  })

const readImage = (dir: string): Image | null => {
  try {
    return Schema.decodeUnknownSync(Image)(JSON.parse(fs.readFileSync(path.join(dir, METADATA), "utf8")))
  } catch {
    return null
  }
}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Holds `<images>/.lock-<hash>` for the scope; waits while a live process holds it, takes over a dead one's. */
const lockRecipe = (images: string, hash: string, fail: (step: string, reason: string) => ImageBuildFailed) =>
  Effect.acquireRelease(
    Effect.gen(function* () {
      const lock = path.join(images, `.lock-${hash}`)
      for (;;) {
        const taken = yield* Effect.try({
          try: () => {
            fs.writeFileSync(lock, String(process.pid), { flag: "wx", mode: 0o600 })
            return true
          },
          catch: (cause) => cause as NodeJS.ErrnoException
        }).pipe(Effect.catchAll((cause) => (cause.code === "EEXIST" ? Effect.succeed(false) : Effect.fail(fail("lock the recipe", describeCause(cause))))))
        if (taken) return lock
        let holder = Number.NaN
        try {
          holder = Number(fs.readFileSync(lock, "utf8").trim())
        } catch {
          continue
        }
        if (!Number.isInteger(holder) || holder <= 0 || !pidAlive(holder)) {
          fs.rmSync(lock, { force: true })
          continue
        }
        yield* Effect.sleep(LOCK_POLL_MS)
      }
    }),
    (lock) => Effect.sync(() => fs.rmSync(lock, { force: true }))
  )

const treeSize = (dir: string): number => {
  let total = 0
  const walk = (at: string) => {
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name)
      const stat = fs.lstatSync(full)
      total += stat.size
      if (entry.isDirectory()) walk(full)
    }
  }
  walk(dir)
  return total
}

const HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

type DebootstrapOutput = { readonly kind: "line"; readonly line: string } | { readonly kind: "exit"; readonly code: number | null }

/** debootstrap's output lines as they come, then its exit; interruption stops it with SIGTERM (its exit traps unmount). */
const debootstrapOutput = (file: string, args: ReadonlyArray<string>): Stream.Stream<DebootstrapOutput, string> =>
  Stream.async<DebootstrapOutput, string>((emit) => {
    const child = spawn(file, args, { env: HOST_ENV, stdio: ["ignore", "pipe", "pipe"] })
    const partials = ["", ""]
    const lineReader = (stream: 0 | 1) => (chunk: Buffer) => {
      const lines = (partials[stream] + chunk.toString("utf8")).split("\n")
      partials[stream] = lines.pop() ?? ""
      for (const line of lines) void emit.single({ kind: "line", line })
    }
    child.stdout.on("data", lineReader(0))
    child.stderr.on("data", lineReader(1))
    child.on("error", (cause) => void emit.fail(cause.message))
    child.on("close", (code) => {
      for (const partial of partials) if (partial !== "") void emit.single({ kind: "line", line: partial })
      void emit.single({ kind: "exit", code })
      void emit.end()
    })
    return Effect.async<void>((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done(Effect.void)
      child.once("close", () => done(Effect.void))
      child.kill("SIGTERM")
    })
  }, 4096)

const logTail = (target: string): ReadonlyArray<string> => {
  try {
    return fs.readFileSync(path.join(target, "debootstrap", "debootstrap.log"), "utf8").trimEnd().split("\n").slice(-TAIL_LINES)
  } catch {
    return []
  }
}

const findDebootstrap = (given: string | undefined): string | null =>
  firstExecutable(given !== undefined ? [given] : ["/usr/sbin/debootstrap", "/usr/bin/debootstrap", "/sbin/debootstrap"])

/** The cached image for `recipe`, built first when absent. */
export const buildImage = (dataDir: string, input: ImageRecipe, options: BuildOptions = {}): Effect.Effect<Image, ImageBuildFailed> =>
  Effect.scoped(
    Effect.gen(function* () {
      const recipe = canonicalRecipe(input)
      const hash = recipeHash(recipe)
      const images = imagesDir(dataDir)
      const finalDir = path.join(images, hash)
      const progress = options.onProgress ?? (() => Effect.void)
      const fail = (step: string, reason: string, outputTail: ReadonlyArray<string> = []) =>
        new ImageBuildFailed({ recipeHash: hash, step, reason, outputTail })

      const cached = readImage(finalDir)
      if (cached !== null) return cached
      yield* Schema.decodeUnknown(ImageRecipe)(recipe).pipe(Effect.mapError((error) => fail("check the recipe", error.message)))
      const debootstrap = findDebootstrap(options.debootstrap)
      if (debootstrap === null) return yield* Effect.fail(fail("find debootstrap", "debootstrap is not installed; install it with `apt-get install -y debootstrap`"))
      yield* Effect.try({ try: () => fs.mkdirSync(images, { recursive: true, mode: 0o700 }), catch: (cause) => fail("create the image store", describeCause(cause)) })
      yield* lockRecipe(images, hash, fail)
      const builtMeanwhile = readImage(finalDir)
      if (builtMeanwhile !== null) return builtMeanwhile
      if (fs.existsSync(finalDir)) yield* removeTree(finalDir).pipe(Effect.mapError((reason) => fail("remove an incomplete image", reason)))

      const buildDir = path.join(images, `.build-${hash.slice(0, 16)}-${randomBytes(4).toString("hex")}`)
      const target = path.join(buildDir, "rootfs")
      yield* Effect.acquireRelease(
        Effect.try({ try: () => fs.mkdirSync(buildDir, { mode: 0o700 }), catch: (cause) => fail("create the build directory", describeCause(cause)) }),
        () => removeTree(buildDir).pipe(Effect.ignore)
      )
      const began = performance.now()
      const args = debootstrapArgs(recipe, target)
      yield* progress(`image ${hash.slice(0, 12)}: ${debootstrap} ${args.join(" ")}`)
      const outcome = yield* debootstrapOutput(debootstrap, args).pipe(
        Stream.runFoldEffect({ tail: [] as ReadonlyArray<string>, exitCode: null as number | null }, (state, output) =>
          output.kind === "exit"
            ? Effect.succeed({ ...state, exitCode: output.code })
            : progress(output.line).pipe(Effect.as({ ...state, tail: [...state.tail, output.line].slice(-TAIL_LINES) }))
        ),
        Effect.mapError((reason) => fail("debootstrap", `cannot run ${debootstrap}: ${reason}`))
      )
      if (outcome.exitCode !== 0) {
        const log = logTail(target)
        return yield* Effect.fail(
          fail("debootstrap", `exited with status ${outcome.exitCode ?? "(signal)"}`, [...outcome.tail, ...(log.length > 0 ? ["--- debootstrap.log:", ...log] : [])])
        )
      }
      yield* progress(`image ${hash.slice(0, 12)}: preparing the root filesystem`)
      const image: Image = yield* Effect.try({
        try: () => {
          fs.mkdirSync(path.join(target, "workspace"), { recursive: true, mode: 0o755 })
          if (!fs.existsSync(path.join(target, "etc", "hosts"))) fs.writeFileSync(path.join(target, "etc", "hosts"), HOSTS, { mode: 0o644 })
          const built: Image = {
            hash,
            recipe,
            rootfs: path.join(finalDir, "rootfs"),
            builtAt: new Date().toISOString(),
            buildMs: Math.round(performance.now() - began),
            sizeBytes: treeSize(target)
          }
          fs.writeFileSync(path.join(buildDir, METADATA), `${JSON.stringify(built, null, 2)}\n`, { mode: 0o644 })
          fs.chmodSync(buildDir, 0o755)
          fs.renameSync(buildDir, finalDir)
          return built
        },
        catch: (cause) => fail("prepare the root filesystem", describeCause(cause))
      })
      yield* progress(`image ${hash.slice(0, 12)}: built in ${(image.buildMs / 1000).toFixed(1)} s, ${(image.sizeBytes / 1e6).toFixed(0)} MB at ${image.rootfs}`)
      return image
    })
  )

export const listImages = (dataDir: string): Effect.Effect<ReadonlyArray<Image>, ImageStoreFailure> =>
  Effect.gen(function* () {
    const images = imagesDir(dataDir)
    if (!fs.existsSync(images)) return []
    const names = yield* storeIo("list", images, () => fs.readdirSync(images))
    return names
      .filter((name) => /^[0-9a-f]{64}$/.test(name))
      .flatMap((name) => {
        const image = readImage(path.join(images, name))
        return image === null ? [] : [image]
      })
      .sort((a, b) => a.builtAt.localeCompare(b.builtAt))
  })

export const findImage = (dataDir: string, hash: string): Effect.Effect<Image, ImageNotFound> =>
  Effect.suspend(() => {
    const image = /^[0-9a-f]{64}$/.test(hash) ? readImage(path.join(imagesDir(dataDir), hash)) : null
    return image === null ? Effect.fail(new ImageNotFound({ hash, imagesDir: imagesDir(dataDir) })) : Effect.succeed(image)
  })

/** Removes a built image; sandboxes still using it keep their mounts until they stop. */
export const removeImage = (dataDir: string, hash: string): Effect.Effect<void, ImageNotFound | ImageStoreFailure> =>
  Effect.gen(function* () {
    yield* findImage(dataDir, hash)
    const dir = path.join(imagesDir(dataDir), hash)
    yield* removeTree(dir).pipe(Effect.mapError((reason) => new ImageStoreFailure({ path: dir, operation: "remove", reason })))
  })
