// What one workspace entry is on disk right now: kind, size, SHA-256, permission bits and inode, plus
// the text of small text files (to diff the next version against). Regular files are opened with
// O_NOFOLLOW | O_NONBLOCK (a FIFO or a swapped-in symlink cannot block or redirect the read) and
// O_NOATIME, so the monitor's own reads do not change atime (chokidar compares atime with mtime to tell
// attribute changes from reads). Symlinks are recorded as links, never followed.
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { directoryKey, hostPath } from "./workspace-path.js"

export type EntryKind = "file" | "symlink" | "directory" | "other"

export interface EntryState {
  readonly kind: EntryKind
  /** Bytes hashed (files), target length (symlinks); null for directories and special files. */
  readonly size: number | null
  /** Of the content (files) or the link target (symlinks); null otherwise. */
  readonly sha256: string | null
  readonly mode: number
  readonly ino: number
}

export interface ReadEntry {
  readonly state: EntryState
  /** The content as text when it is a file of at most `textLimit` bytes of valid UTF-8 without NUL. */
  readonly text: string | null
}

const utf8 = new TextDecoder("utf-8", { fatal: true })
const CHUNK = 1 << 20
const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK | fs.constants.O_NOATIME

const asText = (bytes: Buffer): string | null => {
  if (bytes.includes(0)) return null
  try {
    return utf8.decode(bytes)
  } catch {
    return null
  }
}

const gone = (cause: unknown) => {
  const code = (cause as NodeJS.ErrnoException | null)?.code
  return code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP"
}

const readFile = (file: string, textLimit: number): ReadEntry | null => {
  let fd: number
  try {
    fd = fs.openSync(file, OPEN_FLAGS)
  } catch (cause) {
    if (gone(cause)) return null
    throw cause
  }
  try {
    const stat = fs.fstatSync(fd)
    const mode = stat.mode & 0o7777
    if (!stat.isFile()) return { state: { kind: "other", size: null, sha256: null, mode, ino: stat.ino }, text: null }
    const hash = createHash("sha256")
    const kept: Array<Buffer> = []
    let size = 0
    for (;;) {
      const buffer = Buffer.allocUnsafe(CHUNK)
      const n = fs.readSync(fd, buffer, 0, CHUNK, null)
      if (n === 0) break
      const chunk = buffer.subarray(0, n)
      hash.update(chunk)
      size += n
      if (size <= textLimit) kept.push(chunk)
    }
    const text = size <= textLimit ? asText(Buffer.concat(kept)) : null
    return { state: { kind: "file", size, sha256: hash.digest("hex"), mode, ino: stat.ino }, text }
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * The entry recorded under `key` (a workspace-relative path; directories end in '/'), or null when
 * nothing of that kind is there now. Errors other than "not there" are thrown to the caller.
 */
export const readEntry = (workspaceDir: string, key: string, textLimit: number): ReadEntry | null => {
  const isDirKey = key.endsWith("/")
  const file = hostPath(workspaceDir, isDirKey ? key.slice(0, -1) : key)
  let stat: fs.Stats
  try {
    stat = fs.lstatSync(file)
  } catch (cause) {
    if (gone(cause)) return null
    throw cause
  }
  const mode = stat.mode & 0o7777
  if (stat.isDirectory()) return isDirKey ? { state: { kind: "directory", size: null, sha256: null, mode, ino: stat.ino }, text: null } : null
  if (isDirKey) return null
  if (stat.isSymbolicLink()) {
    let target: Buffer
    try {
      target = fs.readlinkSync(file, { encoding: "buffer" })
    } catch (cause) {
      if (gone(cause) || (cause as NodeJS.ErrnoException).code === "EINVAL") return readEntry(workspaceDir, key, textLimit)
      throw cause
    }
    return { state: { kind: "symlink", size: target.length, sha256: createHash("sha256").update(target).digest("hex"), mode, ino: stat.ino }, text: null }
  }
  if (stat.isFile()) return readFile(file, textLimit)
  return { state: { kind: "other", size: null, sha256: null, mode, ino: stat.ino }, text: null }
}

/** Every entry under the workspace (not the workspace itself), keyed like `readEntry`'s keys. */
export const walkWorkspace = (workspaceDir: string, textLimit: number): Map<string, ReadEntry> => {
  const found = new Map<string, ReadEntry>()
  const visit = (rel: string) => {
    let names: Array<string>
    try {
      names = fs.readdirSync(rel === "" ? workspaceDir : hostPath(workspaceDir, rel))
    } catch (cause) {
      if (gone(cause)) return
      throw cause
    }
    for (const name of names) {
      const child = rel === "" ? name : `${rel}/${name}`
      const asDir = readEntry(workspaceDir, directoryKey(child), textLimit)
      if (asDir !== null) {
        found.set(directoryKey(child), asDir)
        visit(child)
        continue
      }
      const entry = readEntry(workspaceDir, child, textLimit)
      if (entry !== null) found.set(child, entry)
    }
  }
  visit("")
  return found
}

/** Whether two states differ in anything a FileChanged records. */
export const sameState = (a: EntryState | null | undefined, b: EntryState | null | undefined): boolean =>
  a === b || (a != null && b != null && a.kind === b.kind && a.size === b.size && a.sha256 === b.sha256 && a.mode === b.mode)
