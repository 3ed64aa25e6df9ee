// Properties of the file monitor's pure parts: the unified diff, burst coalescing, path
// relativisation and rename pairing.
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import * as path from "node:path"
import { classify, type Observed } from "../../../../src/adapters/monitors/files/changes.js"
import { makeCoalescer } from "../../../../src/adapters/monitors/files/coalescer.js"
import type { EntryState } from "../../../../src/adapters/monitors/files/file-state.js"
import { unifiedDiff } from "../../../../src/adapters/monitors/files/unified-diff.js"
import { workspaceRelative } from "../../../../src/adapters/monitors/files/workspace-path.js"
import { applyPatch } from "./apply-patch.js"

// few distinct lines, so that texts share lines and the diff has real work to do
const text = fc.array(fc.constantFrom("a", "b", "c", "d", "", "x y"), { maxLength: 40 }).chain((lines) =>
  fc.boolean().map((finalNewline) => lines.join("\n") + (finalNewline && lines.length > 0 ? "\n" : ""))
)

describe("unifiedDiff", () => {
  it("turns the old text into the new one when applied, and is empty exactly when they are equal", () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        const patch = unifiedDiff(a, b, { oldName: "a/f", newName: "b/f" })
        expect(patch === "").toBe(a === b)
        if (patch !== "") expect(applyPatch(a, patch)).toBe(b)
      }),
      { numRuns: 2000 }
    )
  })

  it("stays correct when the edit budget is exceeded (wholesale replacement)", () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        const patch = unifiedDiff(a, b, { oldName: "a/f", newName: "b/f", maxEdits: 2 })
        if (patch !== "") expect(applyPatch(a, patch)).toBe(b)
      })
    )
  })

  it("shows one changed line as one removal and one addition with three lines of context", () => {
    const old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n"
    expect(unifiedDiff(old, old.replace("5\n", "five\n"), { oldName: "a/n", newName: "b/n" })).toBe(
      "--- a/n\n+++ b/n\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
    )
    expect(unifiedDiff("x", "x\n", { oldName: "a/n", newName: "b/n" })).toBe("--- a/n\n+++ b/n\n@@ -1,1 +1,1 @@\n-x\n\\ No newline at end of file\n+x\n")
  })
})

describe("coalescer", () => {
  const notification = fc.record({ path: fc.constantFrom("a", "b", "c", "d/", "d/e"), gap: fc.integer({ min: 0, max: 400 }) })

  it("puts every notification in exactly one burst, holds none past quiet or max delay, and never exceeds its bound", () => {
    fc.assert(
      fc.property(fc.array(notification, { maxLength: 200 }), fc.integer({ min: 1, max: 5 }), (notes, maxPaths) => {
        const options = { quietMs: 100, maxDelayMs: 300, maxPaths }
        const coalescer = makeCoalescer(options)
        let now = 0
        let noted = 0
        let flushed = 0
        for (const n of notes) {
          now += n.gap
          for (const burst of coalescer.due(now)) {
            expect(now - burst.lastAt >= options.quietMs || now - burst.firstAt >= options.maxDelayMs).toBe(true)
            expect(burst.writes).toBeGreaterThanOrEqual(1)
            expect(burst.firstAt).toBeLessThanOrEqual(burst.lastAt)
            flushed += burst.writes
          }
          for (const pending of coalescer.pending()) {
            expect(now - pending.lastAt).toBeLessThan(options.quietMs)
            expect(now - pending.firstAt).toBeLessThan(options.maxDelayMs)
          }
          if (coalescer.note(n.path, now, false) !== "dropped") noted++
          expect(coalescer.size()).toBeLessThanOrEqual(maxPaths)
        }
        flushed += coalescer.drain().reduce((sum, b) => sum + b.writes, 0)
        expect(flushed).toBe(noted)
      })
    )
  })
})

describe("workspaceRelative", () => {
  const segment = fc.stringMatching(/^[a-zA-Z0-9._ -]{1,8}$/).filter((s) => s !== "." && s !== "..")

  it("gives the '/'-separated path of anything inside the workspace and null for anything outside", () => {
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.array(segment, { maxLength: 3 }), (inside, outside) => {
        const ws = "/srv/hv/workspaces/s1"
        expect(workspaceRelative(ws, path.join(ws, ...inside))).toBe(inside.join("/"))
        expect(workspaceRelative(`${ws}/`, path.join(ws, ...inside, "x", ".."))).toBe(inside.join("/"))
        expect(workspaceRelative(ws, path.join(ws, "..", "s1-other", ...outside))).toBeNull()
        expect(workspaceRelative(ws, path.join(ws, ...inside.map(() => ".."), "..", ...outside))).toBeNull()
      })
    )
    expect(workspaceRelative("/w", "/w")).toBe("")
  })
})

describe("classify", () => {
  const file = (ino: number, sha: string, mode = 0o644): EntryState => ({ kind: "file", size: 1, sha256: sha.repeat(64), mode, ino })
  const seen = (p: string, before: EntryState | undefined, after: EntryState | null, writes = 1): Observed => ({ path: p, writes, firstAt: 10, lastAt: 20, before, after })

  it("pairs a deletion and a creation with the same inode and content into one rename carrying both bursts' writes", () => {
    expect(classify([seen("old", file(7, "a"), null, 2), seen("new", undefined, file(7, "a"), 3)])).toEqual([
      { path: "new", previousPath: "old", change: "renamed", before: file(7, "a"), after: file(7, "a"), writes: 5, firstAt: 10, lastAt: 20 }
    ])
  })

  it("keeps delete + create when the inode was reused for other content, and names mode-only changes", () => {
    expect(classify([seen("old", file(7, "a"), null), seen("new", undefined, file(7, "b"))]).map((c) => c.change)).toEqual(["deleted", "created"])
    expect(classify([seen("f", file(1, "a"), file(1, "a", 0o600))]).map((c) => c.change)).toEqual(["mode"])
    expect(classify([seen("f", file(1, "a"), file(2, "b"))]).map((c) => c.change)).toEqual(["modified"])
  })

  it("accounts for every observation's writes exactly once", () => {
    const state = fc.option(fc.record({ ino: fc.integer({ min: 1, max: 4 }), sha: fc.constantFrom("a", "b") }), { nil: undefined })
    fc.assert(
      fc.property(fc.array(fc.tuple(state, state, fc.integer({ min: 1, max: 9 })), { maxLength: 12 }), (rows) => {
        const observed = rows.map(([b, a, w], i) => seen(`p${i}`, b && file(b.ino, b.sha), a ? file(a.ino, a.sha) : null, w))
        const changes = classify(observed)
        expect(changes.reduce((s, c) => s + c.writes, 0)).toBe(observed.reduce((s, o) => s + o.writes, 0))
        expect(new Set(changes.map((c) => c.path)).size).toBe(changes.length)
      })
    )
  })
})
