// Snapshots of a bwrap sandbox are copies of its workspace. The workspace is written by untrusted code,
// so the copy never follows a symlink (links are copied as links) and skips fifos, sockets and devices.
// The content hash is SHA-256 over a canonical listing: one JSON line [path, kind, mode, digest] per
// entry, sorted by the UTF-8 bytes of the path; digest is the file's SHA-256 or the link's target.
import { Effect } from "effect"
import { createHash } from "node:crypto"
import { createReadStream } from "node:fs"
import * as fs from "node:fs/promises"
import * as path from "node:path"
import { pipeline } from "node:stream/promises"
import { describeCause, RunnerIoFailure } from "../errors.js"

export interface Owner {
  readonly uid: number
  readonly gid: number
}

export interface ListingEntry {
  readonly path: string
  readonly kind: "d" | "f" | "l"
  readonly mode: number
  readonly digest: string
}

const io = (operation: string, at: string) => (cause: unknown) =>
  new RunnerIoFailure({ path: at, operation, reason: describeCause(cause) })

const copyEntries = async (from: string, to: string, owner: Owner | null): Promise<void> => {
  for (const entry of await fs.readdir(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name)
    const target = path.join(to, entry.name)
    if (entry.isDirectory()) {
      const stat = await fs.lstat(source)
      await fs.mkdir(target, { mode: 0o700 })
      await copyEntries(source, target, owner)
      await fs.chmod(target, stat.mode & 0o7777)
    } else if (entry.isFile()) {
      const stat = await fs.lstat(source)
      await fs.copyFile(source, target)
      await fs.chmod(target, stat.mode & 0o7777)
    } else if (entry.isSymbolicLink()) {
      await fs.symlink(await fs.readlink(source), target)
    } else {
      continue
    }
    if (owner !== null) await fs.lchown(target, owner.uid, owner.gid)
  }
}

/** Copies the content of `from` into `to` (created, must not exist); files get `owner` when given. */
export const copyTree = (from: string, to: string, owner: Owner | null) =>
  Effect.tryPromise({
    try: async () => {
      await fs.mkdir(to, { recursive: false, mode: 0o700 })
      await copyEntries(from, to, owner)
    },
    catch: io("copy", `${from} -> ${to}`)
  })

/** Copies `from` over the existing directory `to` after emptying it. */
export const replaceContent = (from: string, to: string, owner: Owner | null) =>
  Effect.tryPromise({
    try: async () => {
      for (const name of await fs.readdir(to)) await fs.rm(path.join(to, name), { recursive: true, force: true })
      await copyEntries(from, to, owner)
    },
    catch: io("restore", `${from} -> ${to}`)
  })

const fileDigest = async (file: string): Promise<string> => {
  const hash = createHash("sha256")
  await pipeline(createReadStream(file), hash)
  return hash.digest("hex")
}

const listEntries = async (root: string, dir: string, out: Array<ListingEntry>): Promise<void> => {
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    const rel = path.relative(root, full).split(path.sep).join("/")
    if (entry.isDirectory()) {
      out.push({ path: rel, kind: "d", mode: (await fs.lstat(full)).mode & 0o7777, digest: "" })
      await listEntries(root, full, out)
    } else if (entry.isFile()) {
      out.push({ path: rel, kind: "f", mode: (await fs.lstat(full)).mode & 0o7777, digest: await fileDigest(full) })
    } else if (entry.isSymbolicLink()) {
      out.push({ path: rel, kind: "l", mode: 0o777, digest: await fs.readlink(full) })
    }
  }
}

export const canonicalListing = (entries: ReadonlyArray<ListingEntry>): string =>
  [...entries]
    .sort((a, b) => Buffer.compare(Buffer.from(a.path, "utf8"), Buffer.from(b.path, "utf8")))
    .map((e) => JSON.stringify([e.path, e.kind, e.mode.toString(8), e.digest]) + "\n")
    .join("")

export const listTree = (dir: string) =>
  Effect.tryPromise({
    try: async () => {
      const out: Array<ListingEntry> = []
      await listEntries(dir, dir, out)
      return out
    },
    catch: io("list", dir)
  })

export const contentHash = (dir: string) =>
  listTree(dir).pipe(Effect.map((entries) => createHash("sha256").update(canonicalListing(entries)).digest("hex")))

/** Gives every entry under `dir` (and `dir` itself) to `owner`, never following a symlink. */
export const chownTree = (dir: string, owner: Owner) =>
  Effect.tryPromise({
    try: async () => {
      const walk = async (at: string): Promise<void> => {
        await fs.lchown(at, owner.uid, owner.gid)
        for (const entry of await fs.readdir(at, { withFileTypes: true })) {
          const full = path.join(at, entry.name)
          if (entry.isDirectory()) await walk(full)
          else await fs.lchown(full, owner.uid, owner.gid)
        }
      }
      await walk(dir)
    },
    catch: io("chown", dir)
  })
