// Applies a unified diff (as `patch` would, strictly: every context and removed line must match) —
// the independent check that a diff the monitor stored really turns the old text into the new one.
import { splitLines } from "../../../../src/adapters/monitors/files/unified-diff.js"

const HUNK = /^@@ -(\d+),(\d+) \+(\d+),(\d+) @@$/

export const applyPatch = (oldText: string, patch: string): string => {
  const old = splitLines(oldText)
  const lines = patch.split("\n")
  if (lines.at(-1) === "") lines.pop()
  const out: Array<string> = []
  let at = 0
  let i = 2
  while (i < lines.length) {
    const header = HUNK.exec(lines[i]!)
    if (header === null) throw new Error(`expected a hunk header at patch line ${i + 1}: ${lines[i]}`)
    const oldStart = Number(header[1])
    const oldCount = Number(header[2])
    const start = oldCount === 0 ? oldStart : oldStart - 1
    while (at < start) out.push(old[at++]!)
    i++
    while (i < lines.length && !lines[i]!.startsWith("@@")) {
      const line = lines[i]!
      const noNewline = lines[i + 1] === "\\ No newline at end of file"
      const text = line.slice(1) + (noNewline ? "" : "\n")
      if (line[0] === " " || line[0] === "-") {
        if (old[at] !== text) throw new Error(`patch line ${i + 1} expects ${JSON.stringify(text)}, old line ${at + 1} is ${JSON.stringify(old[at])}`)
        if (line[0] === " ") out.push(text)
        at++
      } else if (line[0] === "+") out.push(text)
      else throw new Error(`unexpected patch line ${i + 1}: ${line}`)
      i += noNewline ? 2 : 1
    }
  }
  while (at < old.length) out.push(old[at++]!)
  return out.join("")
}
