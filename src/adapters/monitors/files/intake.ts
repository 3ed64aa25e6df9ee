// Which chokidar notifications count, and under which path key. inotify events on watched directories
// (chokidar's `raw` events) are the primary signal: immediate, never throttled, and they include
// attribute-only changes that chokidar's own `change` filter drops. The same events from chokidar's
// per-file watches are duplicates and are ignored. chokidar's `add`/`unlink` only count for what no
// directory event could report: entries found by reading a directory that was just created, and the
// contents of a directory that was moved away or removed.
import * as fs from "node:fs"
import * as path from "node:path"
import { directoryKey, hostPath, workspaceRelative } from "./workspace-path.js"

export interface IntakeContext {
  readonly workspaceDir: string
  /** A burst is pending for this key. */
  readonly pending: (key: string) => boolean
  /** The ledger's view has an entry under this key. */
  readonly recorded: (key: string) => boolean
  readonly note: (key: string, isAdd: boolean) => void
  /** A directory appeared (workspace-relative, no trailing '/'): the monitor reads it again before it settles. */
  readonly appeared?: (rel: string) => void
  /** A recorded entry has this inode (a directory moved within the workspace keeps its inode). */
  readonly knownInode?: (ino: number) => boolean
}

const isDirectory = (file: string) => fs.lstatSync(file, { throwIfNoEntry: false })?.isDirectory() === true

/** The key of a workspace-relative path as it is now: 'x/' for a directory, else 'x'. */
const keyNow = (context: IntakeContext, rel: string): { key: string; exists: boolean } => {
  const stat = fs.lstatSync(hostPath(context.workspaceDir, rel), { throwIfNoEntry: false })
  if (stat !== undefined) return { key: stat.isDirectory() ? directoryKey(rel) : rel, exists: true }
  const asDir = directoryKey(rel)
  return { key: context.recorded(asDir) || context.pending(asDir) ? asDir : rel, exists: false }
}

export const onRaw = (context: IntakeContext, event: string, name: unknown, watchedPath: string): void => {
  // a file's own watch, or the last event of a directory that is gone (its parent reports it)
  if (typeof name !== "string" || name === "" || !isDirectory(watchedPath)) return
  const rel = workspaceRelative(context.workspaceDir, path.join(watchedPath, name))
  if (rel === null || rel === "") return
  const { key, exists } = keyNow(context, rel)
  context.note(key, event === "rename" && exists && !context.recorded(key))
  // A directory that just appeared may already hold entries written before its own watch exists
  // (`mkdir d && echo x > d/f`): read it now, so they are noted before the monitor can look settled.
  // A directory moved here from inside the workspace is left to rename pairing (chokidar's add/unlink).
  if (exists && key.endsWith("/") && !movedHere(context, rel)) {
    context.appeared?.(rel)
    noteContents(context, rel)
  }
}

const movedHere = (context: IntakeContext, rel: string): boolean => {
  const ino = fs.lstatSync(hostPath(context.workspaceDir, rel), { throwIfNoEntry: false })?.ino
  return ino !== undefined && context.knownInode?.(ino) === true
}

/** Notes, as added, every entry under a new directory that is neither recorded nor pending (bounded). */
export const noteContents = (context: IntakeContext, rel: string, budget = { left: 10_000 }): void => {
  let entries: Array<fs.Dirent>
  try {
    entries = fs.readdirSync(hostPath(context.workspaceDir, rel), { withFileTypes: true })
  } catch {
    return // gone again: its parent's events report that
  }
  for (const entry of entries) {
    if (budget.left-- <= 0) return
    const child = rel === "" ? entry.name : `${rel.replace(/\/$/, "")}/${entry.name}`
    const key = entry.isDirectory() ? directoryKey(child) : child
    if (!context.recorded(key) && !context.pending(key)) context.note(key, true)
    if (entry.isDirectory()) noteContents(context, child, budget)
  }
}

export const onChokidarEvent = (context: IntakeContext, event: string, file: string): void => {
  const rel = workspaceRelative(context.workspaceDir, file)
  if (rel === null || rel === "") return
  const isDir = event === "addDir" || event === "unlinkDir"
  const key = isDir ? directoryKey(rel) : rel
  if (context.pending(key)) return
  const known = context.recorded(key)
  if ((event === "add" || event === "addDir") && !known) context.note(key, true)
  else if ((event === "unlink" || event === "unlinkDir") && known) context.note(key, false)
}
