// A line diff for `policy diff`: the longest common subsequence of two texts' lines, printed as
// ` ` (both), `-` (only in the old) and `+` (only in the new). Policies are short, so O(n·m) is fine.

export interface DiffLine {
  readonly op: " " | "-" | "+"
  readonly line: string
}

export const lineDiff = (before: string, after: string): ReadonlyArray<DiffLine> => {
  const a = before.trimEnd().split("\n")
  const b = after.trimEnd().split("\n")
  const lcs = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0))
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      const row = lcs[i]!
      row[j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, row[j + 1]!)
    }
  }
  const out: Array<DiffLine> = []
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ op: " ", line: a[i]! })
      i++
      j++
    } else if (i < a.length && (j === b.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) {
      out.push({ op: "-", line: a[i]! })
      i++
    } else {
      out.push({ op: "+", line: b[j]! })
      j++
    }
  }
  return out
}

export const formatDiff = (lines: ReadonlyArray<DiffLine>): string => lines.map((l) => `${l.op} ${l.line}`.trimEnd()).join("\n")
