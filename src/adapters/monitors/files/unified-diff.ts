// Unified diffs (the `diff -u` / `patch` format) between two versions of a text file, for FileChanged's
// diff blob. Myers' O(ND) line diff after trimming the common prefix and suffix (appends and small edits
// are then cheap); past `maxEdits` differing lines it gives up on minimality and replaces the middle
// wholesale, which is still a correct diff, so a rewritten file never costs quadratic time.

export interface DiffOptions {
  readonly oldName: string
  readonly newName: string
  readonly context?: number
  readonly maxEdits?: number
}

type Op = { readonly kind: " " | "-" | "+"; readonly line: string }

/** Lines with their terminator, so that "a" and "a\n" differ as they do on disk. */
export const splitLines = (text: string): Array<string> => {
  const lines: Array<string> = []
  let start = 0
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", start)) {
    lines.push(text.slice(start, i + 1))
    start = i + 1
  }
  if (start < text.length) lines.push(text.slice(start))
  return lines
}

/** Shortest edit script of a → b, or null when it needs more than `maxEdits` inserted/deleted lines. */
const myers = (a: ReadonlyArray<string>, b: ReadonlyArray<string>, maxEdits: number): Array<Op> | null => {
  const n = a.length
  const m = b.length
  const limit = Math.min(n + m, maxEdits)
  const offset = limit + 1
  const v = new Int32Array(2 * limit + 3)
  const trace: Array<Int32Array> = []
  for (let d = 0; d <= limit; d++) {
    trace.push(v.slice())
    for (let k = -d; k <= d; k += 2) {
      const down = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!)
      let x = down ? v[offset + k + 1]! : v[offset + k - 1]! + 1
      let y = x - k
      while (x < n && y < m && a[x] === b[y]) {
        x++
        y++
      }
      v[offset + k] = x
      if (x >= n && y >= m) return backtrack(a, b, trace, offset)
    }
  }
  return null
}

const backtrack = (a: ReadonlyArray<string>, b: ReadonlyArray<string>, trace: ReadonlyArray<Int32Array>, offset: number): Array<Op> => {
  const ops: Array<Op> = []
  let x = a.length
  let y = b.length
  for (let d = trace.length - 1; d >= 0; d--) {
    const v = trace[d]!
    const k = x - y
    const down = k === -d || (k !== d && v[offset + k - 1]! < v[offset + k + 1]!)
    const prevK = down ? k + 1 : k - 1
    const prevX = d === 0 ? 0 : v[offset + prevK]!
    const prevY = d === 0 ? 0 : prevX - prevK
    while (x > prevX && y > prevY) {
      x--
      y--
      ops.push({ kind: " ", line: a[x]! })
    }
    if (d > 0) ops.push(x === prevX ? { kind: "+", line: b[prevY]! } : { kind: "-", line: a[prevX]! })
    x = prevX
    y = prevY
  }
  return ops.reverse()
}

/** The edit script of old → new lines: common prefix and suffix, then Myers (or wholesale) in between. */
export const lineEdits = (a: ReadonlyArray<string>, b: ReadonlyArray<string>, maxEdits = 2000): Array<Op> => {
  let prefix = 0
  while (prefix < a.length && prefix < b.length && a[prefix] === b[prefix]) prefix++
  let suffix = 0
  while (suffix < a.length - prefix && suffix < b.length - prefix && a[a.length - 1 - suffix] === b[b.length - 1 - suffix]) suffix++
  const midA = a.slice(prefix, a.length - suffix)
  const midB = b.slice(prefix, b.length - suffix)
  const middle = myers(midA, midB, maxEdits) ?? [...midA.map((line): Op => ({ kind: "-", line })), ...midB.map((line): Op => ({ kind: "+", line }))]
  return [
    ...a.slice(0, prefix).map((line): Op => ({ kind: " ", line })),
    ...middle,
    ...a.slice(a.length - suffix).map((line): Op => ({ kind: " ", line }))
  ]
}

const NO_NEWLINE = "\\ No newline at end of file\n"

const render = (op: Op): string => (op.line.endsWith("\n") ? `${op.kind}${op.line}` : `${op.kind}${op.line}\n${NO_NEWLINE}`)

/** `diff -u` of two texts; "" when they are equal. */
export const unifiedDiff = (oldText: string, newText: string, options: DiffOptions): string => {
  if (oldText === newText) return ""
  const context = options.context ?? 3
  const ops = lineEdits(splitLines(oldText), splitLines(newText), options.maxEdits)
  const out: Array<string> = [`--- ${options.oldName}\n`, `+++ ${options.newName}\n`]
  // old/new line numbers (0-based) before each op
  const oldAt: Array<number> = []
  const newAt: Array<number> = []
  let o = 0
  let n = 0
  for (const op of ops) {
    oldAt.push(o)
    newAt.push(n)
    if (op.kind !== "+") o++
    if (op.kind !== "-") n++
  }
  let i = 0
  while (i < ops.length) {
    while (i < ops.length && ops[i]!.kind === " ") i++
    if (i >= ops.length) break
    const start = Math.max(0, i - context)
    let end = i
    // extend the hunk while the next change is within 2 × context unchanged lines
    for (;;) {
      while (end < ops.length && ops[end]!.kind !== " ") end++
      let next = end
      while (next < ops.length && ops[next]!.kind === " ") next++
      if (next < ops.length && next - end <= 2 * context) end = next
      else {
        end = Math.min(ops.length, end + context)
        break
      }
    }
    const hunk = ops.slice(start, end)
    const oldCount = hunk.filter((op) => op.kind !== "+").length
    const newCount = hunk.filter((op) => op.kind !== "-").length
    const oldStart = oldCount === 0 ? oldAt[start]! : oldAt[start]! + 1
    const newStart = newCount === 0 ? newAt[start]! : newAt[start]! + 1
    out.push(`@@ -${oldStart},${oldCount} +${newStart},${newCount} @@\n`, ...hunk.map(render))
    i = end
  }
  return out.join("")
}
