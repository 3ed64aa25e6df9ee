// From "what was recorded" and "what is on disk now" per path to FileChanged kinds. Pure. A rename is
// seen as a deletion and a creation; they become one `renamed` when the created entry has the deleted
// one's inode and content (same filesystem, content untouched). Anything else stays delete + create, so
// an inode reused for an unrelated file is never mistaken for a rename.
import type { FileChange } from "../../../domain/monitors/monitor-events.js"
import type { EntryState } from "./file-state.js"

export interface Observed {
  readonly path: string
  readonly writes: number
  readonly firstAt: number
  readonly lastAt: number
  /** As last recorded in the ledger; undefined when never recorded (or recorded deleted). */
  readonly before: EntryState | undefined
  /** On disk now; null when nothing is there. */
  readonly after: EntryState | null
}

export interface Change {
  readonly path: string
  readonly previousPath: string | null
  readonly change: FileChange
  readonly before: EntryState | undefined
  readonly after: EntryState | null
  readonly writes: number
  readonly firstAt: number
  readonly lastAt: number
}

export const changeKind = (before: EntryState | undefined, after: EntryState | null): FileChange => {
  if (after === null) return "deleted"
  if (before === undefined) return "created"
  if (before.kind === after.kind && before.sha256 === after.sha256 && before.size === after.size && before.mode !== after.mode) return "mode"
  return "modified"
}

const isRenameOf = (deleted: Observed, created: Observed): boolean =>
  deleted.before !== undefined &&
  created.after !== null &&
  created.before === undefined &&
  deleted.before.kind === created.after.kind &&
  deleted.before.ino === created.after.ino &&
  deleted.before.sha256 === created.after.sha256 &&
  deleted.before.size === created.after.size &&
  deleted.path.endsWith("/") === created.path.endsWith("/")

/** One Change per observed path, except that a deleted/created pair that is a rename becomes one. */
export const classify = (observed: ReadonlyArray<Observed>): Array<Change> => {
  const deletions = new Map<number, Array<Observed>>()
  for (const o of observed) {
    if (o.after === null && o.before !== undefined) {
      const list = deletions.get(o.before.ino) ?? []
      list.push(o)
      deletions.set(o.before.ino, list)
    }
  }
  const renamedFrom = new Map<Observed, Observed>()
  const paired = new Set<Observed>()
  for (const o of observed) {
    if (o.after === null || o.before !== undefined) continue
    const candidates = deletions.get(o.after.ino) ?? []
    const match = candidates.find((d) => !paired.has(d) && isRenameOf(d, o))
    if (match !== undefined) {
      paired.add(match)
      renamedFrom.set(o, match)
    }
  }
  const changes: Array<Change> = []
  for (const o of observed) {
    if (paired.has(o)) continue
    const from = renamedFrom.get(o)
    changes.push(
      from === undefined
        ? { path: o.path, previousPath: null, change: changeKind(o.before, o.after), before: o.before, after: o.after, writes: o.writes, firstAt: o.firstAt, lastAt: o.lastAt }
        : {
            path: o.path,
            previousPath: from.path,
            change: "renamed",
            before: from.before,
            after: o.after,
            writes: o.writes + from.writes,
            firstAt: Math.min(o.firstAt, from.firstAt),
            lastAt: Math.max(o.lastAt, from.lastAt)
          }
    )
  }
  return changes
}
