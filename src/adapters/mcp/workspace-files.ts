// Files of a sandbox's workspace, read and written from the host on an agent's behalf. The workspace
// is written by untrusted code, so a path is resolved as the sandbox would see it (symlinks followed
// by their sandbox meaning, never above /workspace), and then every open goes through a directory
// descriptor whose real path was checked (`/proc/self/fd/N/name`, like openat) with O_NOFOLLOW on the
// last name: a symlink swapped in between the check and the open cannot lead outside.
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Data, Effect, Either } from "effect"
import { parseWorkspacePath, showWorkspacePath, WORKSPACE, type WorkspacePath } from "../../domain/agents/workspace-path.js"
import type { ManifestEntry } from "../../domain/agents/workspace-diff.js"

/** The path leads outside the workspace, or is not a path at all. */
export class WorkspaceRefused extends Data.TaggedError("WorkspaceRefused")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `path '${this.path}' refused: ${this.reason}`
  }
}

/** The path is fine but the operation cannot be done (no such file, a directory, too big…). */
export class WorkspaceFileProblem extends Data.TaggedError("WorkspaceFileProblem")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `'${this.path}': ${this.reason}`
  }
}

export type WorkspaceError = WorkspaceRefused | WorkspaceFileProblem

export interface Workspace {
  /** Real path on the host. */
  readonly root: string
  /** Owner of the workspace: files written from the host are given to it. */
  readonly uid: number
  readonly gid: number
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK } = fs.constants
const MAX_SYMLINKS = 40

const inDir = (fd: number, name: string) => `/proc/self/fd/${fd}/${name}`
const codeOf = (e: unknown) => (e as NodeJS.ErrnoException | undefined)?.code
const reasonOf = (e: unknown) => {
  switch (codeOf(e)) {
    case "ENOENT":
      return "no such file or directory"
    case "ENOTDIR":
      return "a part of the path is not a directory"
    case "EISDIR":
      return "is a directory"
    case "ELOOP":
      return "is a symbolic link"
    case "ENXIO":
      return "is not a regular file"
    case "EACCES":
    case "EPERM":
      return "permission denied"
    default:
      return e instanceof Error ? e.message : String(e)
  }
}

const attempt = <A>(shown: string, body: () => A): Effect.Effect<A, WorkspaceError> =>
  Effect.try({
    try: body,
    catch: (e) => (e instanceof WorkspaceRefused || e instanceof WorkspaceFileProblem ? e : new WorkspaceFileProblem({ path: shown, reason: reasonOf(e) }))
  })

const withFd = <A>(fd: number, use: (fd: number) => A): A => {
  try {
    return use(fd)
  } finally {
    fs.closeSync(fd)
  }
}

export const openWorkspace = (dir: string): Effect.Effect<Workspace, WorkspaceFileProblem> =>
  Effect.try({
    try: () => {
      const root = fs.realpathSync(dir)
      const st = fs.statSync(root)
      return { root, uid: st.uid, gid: st.gid }
    },
    catch: (e) => new WorkspaceFileProblem({ path: WORKSPACE, reason: `the workspace is not there (${reasonOf(e)})` })
  })

export const parsePath = (input: string): Effect.Effect<WorkspacePath, WorkspaceRefused> =>
  Either.match(parseWorkspacePath(input), {
    onLeft: (e) => Effect.fail(new WorkspaceRefused({ path: input, reason: e.reason })),
    onRight: Effect.succeed
  })

/**
 * The names of `wanted` with every symlink replaced by what it means inside the sandbox: a relative
 * target from its directory, an absolute one only under /workspace. The last name may be missing.
 */
const resolveNames = (ws: Workspace, wanted: WorkspacePath, shown: string): Array<string> => {
  const refuse = (reason: string) => new WorkspaceRefused({ path: shown, reason })
  const resolved: Array<string> = []
  const queue = [...wanted]
  let links = 0
  while (queue.length > 0) {
    const name = queue.shift()!
    if (name === "" || name === ".") continue
    if (name === "..") {
      if (resolved.length === 0) throw refuse("a symbolic link in it leads out of the workspace")
      resolved.pop()
      continue
    }
    let st: fs.Stats
    try {
      st = fs.lstatSync(path.join(ws.root, ...resolved, name))
    } catch (e) {
      if (codeOf(e) === "ENOENT" || codeOf(e) === "ENOTDIR") {
        resolved.push(name, ...queue.filter((n) => n !== "" && n !== "."))
        if (resolved.some((n) => n === "..")) throw refuse("it goes through a directory that does not exist and then '..'")
        return resolved
      }
      throw e
    }
    if (!st.isSymbolicLink()) {
      resolved.push(name)
      continue
    }
    if (++links > MAX_SYMLINKS) throw refuse("too many levels of symbolic links")
    const target = fs.readlinkSync(path.join(ws.root, ...resolved, name))
    if (target.includes("\0")) throw refuse("a symbolic link in it is not a path")
    if (target.startsWith("/")) {
      if (target !== WORKSPACE && !target.startsWith(`${WORKSPACE}/`)) throw refuse("a symbolic link in it leads out of the workspace")
      resolved.length = 0
      queue.unshift(...target.slice(WORKSPACE.length).split("/"))
    } else queue.unshift(...target.split("/"))
  }
  return resolved
}

/** Opens a directory of the workspace and checks where the descriptor really is. */
const openDirectory = (ws: Workspace, names: ReadonlyArray<string>, shown: string): number => {
  const fd = fs.openSync(path.join(ws.root, ...names), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
  checkInside(ws, fd, shown)
  return fd
}

const checkInside = (ws: Workspace, fd: number, shown: string) => {
  const real = fs.readlinkSync(`/proc/self/fd/${fd}`)
  if (real !== ws.root && !real.startsWith(`${ws.root}/`)) {
    fs.closeSync(fd)
    throw new WorkspaceRefused({ path: shown, reason: "it leads out of the workspace" })
  }
}

/** The last name's directory, open and checked, and the last name. */
const openParent = (ws: Workspace, input: string, names: WorkspacePath, createMissing: boolean): { dirFd: number; base: string; shown: string } => {
  const resolved = resolveNames(ws, names, input)
  const shown = showWorkspacePath(resolved)
  const base = resolved[resolved.length - 1]
  if (base === undefined) throw new WorkspaceFileProblem({ path: input, reason: "is the workspace directory itself" })
  let dirFd = openDirectory(ws, [], shown)
  for (const name of resolved.slice(0, -1)) {
    let next: number
    try {
      next = fs.openSync(inDir(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
    } catch (e) {
      if (!createMissing || codeOf(e) !== "ENOENT") {
        fs.closeSync(dirFd)
        throw e
      }
      fs.mkdirSync(inDir(dirFd, name), 0o755)
      fs.lchownSync(inDir(dirFd, name), ws.uid, ws.gid)
      next = fs.openSync(inDir(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
    }
    fs.closeSync(dirFd)
    dirFd = next
    checkInside(ws, dirFd, shown)
  }
  return { dirFd, base, shown }
}

export interface FileContent {
  readonly path: string
  readonly content: Buffer
  readonly size: number
  readonly truncated: boolean
}

export const readWorkspaceFile = (ws: Workspace, input: string, maxBytes: number): Effect.Effect<FileContent, WorkspaceError> =>
  Effect.flatMap(parsePath(input), (names) =>
    attempt(input, () => {
      const { dirFd, base, shown } = openParent(ws, input, names, false)
      const fd = withFd(dirFd, () => fs.openSync(inDir(dirFd, base), O_RDONLY | O_NOFOLLOW | O_NONBLOCK))
      return withFd(fd, () => {
        const st = fs.fstatSync(fd)
        if (!st.isFile()) throw new WorkspaceFileProblem({ path: shown, reason: st.isDirectory() ? "is a directory" : "is not a regular file" })
        const size = st.size
        const content = Buffer.alloc(Math.min(size, maxBytes))
        let read = 0
        while (read < content.length) {
          const n = fs.readSync(fd, content, read, content.length - read, read)
          if (n === 0) break
          read += n
        }
        return { path: shown, content: content.subarray(0, read), size, truncated: size > read }
      })
    })
  )

export interface WrittenFile {
  readonly path: string
  readonly bytes: number
  readonly created: boolean
}

export const writeWorkspaceFile = (ws: Workspace, input: string, content: Uint8Array, options: { readonly createParents: boolean }): Effect.Effect<WrittenFile, WorkspaceError> =>
  Effect.flatMap(parsePath(input), (names) =>
    attempt(input, () => {
      const { dirFd, base, shown } = openParent(ws, input, names, options.createParents)
      let created = false
      const fd = withFd(dirFd, () => {
        try {
          const opened = fs.openSync(inDir(dirFd, base), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK, 0o644)
          created = true
          return opened
        } catch (e) {
          if (codeOf(e) !== "EEXIST") throw e
          return fs.openSync(inDir(dirFd, base), O_WRONLY | O_NOFOLLOW | O_NONBLOCK)
        }
      })
      return withFd(fd, () => {
        if (!fs.fstatSync(fd).isFile()) throw new WorkspaceFileProblem({ path: shown, reason: "is not a regular file" })
        if (created) fs.fchownSync(fd, ws.uid, ws.gid)
        fs.ftruncateSync(fd, 0)
        let written = 0
        while (written < content.byteLength) written += fs.writeSync(fd, content, written, content.byteLength - written, written)
        return { path: shown, bytes: content.byteLength, created }
      })
    })
  )

export interface ListedEntry {
  readonly path: string
  readonly type: "file" | "directory" | "symlink" | "other"
  readonly size: number
}

/** Walks a directory without following symlinks; `visit` returns false to stop. */
const walk = (dirFd: number, prefix: string, recursive: boolean, visit: (entry: ListedEntry, fd: number, name: string) => boolean): boolean => {
  const names = fs.readdirSync(`/proc/self/fd/${dirFd}`).sort()
  for (const name of names) {
    let st: fs.Stats
    try {
      st = fs.lstatSync(inDir(dirFd, name))
    } catch {
      continue
    }
    const rel = prefix === "" ? name : `${prefix}/${name}`
    const type = st.isFile() ? "file" : st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : "other"
    if (!visit({ path: rel, type, size: st.size }, dirFd, name)) return false
    if (recursive && type === "directory") {
      let sub: number
      try {
        sub = fs.openSync(inDir(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
      } catch {
        continue
      }
      if (!withFd(sub, () => walk(sub, rel, recursive, visit))) return false
    }
  }
  return true
}

export const listWorkspace = (ws: Workspace, input: string, options: { readonly recursive: boolean; readonly maxEntries: number }) =>
  Effect.flatMap(parsePath(input), (names) =>
    attempt(input, () => {
      const resolved = resolveNames(ws, names, input)
      const shown = showWorkspacePath(resolved)
      let dirFd = openDirectory(ws, [], shown)
      for (const name of resolved) {
        const next = withFd(dirFd, () => fs.openSync(inDir(dirFd, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW))
        dirFd = next
        checkInside(ws, dirFd, shown)
      }
      const entries: Array<ListedEntry> = []
      const prefix = resolved.join("/")
      const complete = withFd(dirFd, () =>
        walk(dirFd, prefix, options.recursive, (entry) => {
          if (entries.length >= options.maxEntries) return false
          entries.push(entry)
          return true
        })
      )
      return { path: shown, entries, truncated: !complete }
    })
  )

const digestOf = (fd: number, size: number) => {
  const hash = createHash("sha256")
  const buffer = Buffer.alloc(Math.min(Math.max(size, 1), 1 << 20))
  for (let at = 0; ; ) {
    const n = fs.readSync(fd, buffer, 0, buffer.length, at)
    if (n === 0) break
    hash.update(buffer.subarray(0, n))
    at += n
  }
  return hash.digest("hex")
}

export interface Manifest {
  readonly entries: ReadonlyArray<ManifestEntry>
  /** More files or bytes than the limits: the listing stops there. */
  readonly truncated: boolean
}

/** Every file and symlink of the workspace with its content hash (files: content; links: target). */
export const workspaceManifest = (ws: Workspace, limits: { readonly maxFiles: number; readonly maxBytes: number }): Effect.Effect<Manifest, WorkspaceError> =>
  attempt(".", () => {
    const entries: Array<ManifestEntry> = []
    let bytes = 0
    const complete = withFd(openDirectory(ws, [], "."), (root) =>
      walk(root, "", true, (entry, dirFd, name) => {
        if (entry.type !== "file" && entry.type !== "symlink") return true
        if (entries.length >= limits.maxFiles || bytes + entry.size > limits.maxBytes) return false
        if (entry.type === "symlink") {
          const target = fs.readlinkSync(inDir(dirFd, name))
          entries.push({ path: entry.path, kind: "symlink", sha256: createHash("sha256").update(target).digest("hex"), bytes: Buffer.byteLength(target) })
          return true
        }
        let fd: number
        try {
          fd = fs.openSync(inDir(dirFd, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        } catch {
          return true
        }
        withFd(fd, () => {
          const st = fs.fstatSync(fd)
          if (!st.isFile()) return
          bytes += st.size
          entries.push({ path: entry.path, kind: "file", sha256: digestOf(fd, st.size), bytes: st.size })
        })
        return true
      })
    )
    return { entries, truncated: !complete }
  })
