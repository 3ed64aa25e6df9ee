// What changed in a workspace between two listings (added, changed, removed, by content hash), and a
// unified diff of one small text file. Pure: the adapter reads the files and hands over their text.

export interface ManifestEntry {
  /** Relative to /workspace, '/'-separated. */
  readonly path: string
  readonly kind: "file" | "symlink"
  /** SHA-256 of the content, or of the link's target for a symlink. */
  readonly sha256: string
  readonly bytes: number
}

export interface WorkspaceChanges {
  readonly added: ReadonlyArray<ManifestEntry>
  readonly changed: ReadonlyArray<{ readonly before: ManifestEntry; readonly after: ManifestEntry }>
  readonly removed: ReadonlyArray<ManifestEntry>
}

export const compareManifests = (before: ReadonlyArray<ManifestEntry>, after: ReadonlyArray<ManifestEntry>): WorkspaceChanges => {
  const old = new Map(before.map((e) => [e.path, e]))
  const now = new Map(after.map((e) => [e.path, e]))
  const byPath = (a: { readonly path: string }, b: { readonly path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  const added = after.filter((e) => !old.has(e.path)).sort(byPath)
  const removed = before.filter((e) => !now.has(e.path)).sort(byPath)
  const changed = after
    .flatMap((e) => {
      const was = old.get(e.path)
      return was !== undefined && (was.sha256 !== e.sha256 || was.kind !== e.kind) ? [{ before: was, after: e, path: e.path }] : []
    })
    .sort(byPath)
    .map(({ before: b, after: a }) => ({ before: b, after: a }))
  return { added, changed, removed }
}

type Op = { readonly kind: " " | "-" | "+"; readonly line: string; readonly a: number; readonly b: number }

// The last line of a text without a final newline is marked, so that "x" and "x\n" differ.
const NO_NEWLINE = "\u0000no-newline"

const splitLines = (text: string): Array<string> => {
  if (text === "") return []
  const lines = text.split("\n")
  if (lines[lines.length - 1] === "") lines.pop()
  else lines[lines.length - 1] += NO_NEWLINE
  return lines
}

/** Longest-common-subsequence edit script; quadratic, so only for small files (the caller bounds them). */
const editScript = (a: ReadonlyArray<string>, b: ReadonlyArray<string>): Array<Op> => {
  const n = a.length
  const m = b.length
  const width = m + 1
  const lcs = new Uint32Array((n + 1) * width)
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--)
      lcs[i * width + j] = a[i] === b[j] ? lcs[(i + 1) * width + j + 1]! + 1 : Math.max(lcs[(i + 1) * width + j]!, lcs[i * width + j + 1]!)
  const ops: Array<Op> = []
  let i = 0
  let j = 0
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) ops.push({ kind: " ", line: a[i]!, a: i++, b: j++ })
    else if (j >= m || (i < n && lcs[(i + 1) * width + j]! >= lcs[i * width + j + 1]!)) ops.push({ kind: "-", line: a[i]!, a: i++, b: j })
    else ops.push({ kind: "+", line: b[j]!, a: i, b: j++ })
  }
  return ops
}

const range = (start: number, count: number) => (count === 1 ? `${start}` : `${start},${count}`)

/** `diff -u` style text; "" when the contents are equal. */
export const unifiedDiff = (path: string, before: string | null, after: string | null, context = 3): string => {
  if (before === after) return ""
  const ops = editScript(splitLines(before ?? ""), splitLines(after ?? ""))
  const changes = ops.flatMap((op, index) => (op.kind === " " ? [] : [index]))
  if (changes.length === 0) return ""
  const out = [`--- ${before === null ? "/dev/null" : `a/${path}`}`, `+++ ${after === null ? "/dev/null" : `b/${path}`}`]
  let h = 0
  while (h < changes.length) {
    let end = h
    while (end + 1 < changes.length && changes[end + 1]! - changes[end]! <= 2 * context + 1) end++
    const hunk = ops.slice(Math.max(0, changes[h]! - context), Math.min(ops.length - 1, changes[end]! + context) + 1)
    const aCount = hunk.filter((o) => o.kind !== "+").length
    const bCount = hunk.filter((o) => o.kind !== "-").length
    const aStart = aCount === 0 ? hunk[0]!.a : hunk[0]!.a + 1
    const bStart = bCount === 0 ? hunk[0]!.b : hunk[0]!.b + 1
    out.push(`@@ -${range(aStart, aCount)} +${range(bStart, bCount)} @@`)
    for (const op of hunk) {
      if (op.line.endsWith(NO_NEWLINE)) out.push(`${op.kind}${op.line.slice(0, -NO_NEWLINE.length)}`, "\\ No newline at end of file")
      else out.push(`${op.kind}${op.line}`)
    }
    h = end + 1
  }
  return out.join("\n") + "\n"
}
