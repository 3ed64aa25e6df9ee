// The pure workspace model: which agent paths are accepted (never above /workspace) and what a
// diff between two workspace listings and two file versions says.
import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { Either } from "effect"
import { compareManifests, unifiedDiff, type ManifestEntry } from "../../../src/domain/agents/workspace-diff.js"
import { parseWorkspacePath, showWorkspacePath } from "../../../src/domain/agents/workspace-path.js"

describe("parseWorkspacePath", () => {
  it.each([
    ["a/b.txt", ["a", "b.txt"]],
    ["./a//b/", ["a", "b"]],
    ["/workspace/a", ["a"]],
    ["/workspace", []],
    [".", []],
    ["", []],
    ["a/../b", ["b"]],
    ["a/b/../../c", ["c"]]
  ])("accepts %j as %j", (input, names) => {
    expect(parseWorkspacePath(input)).toEqual(Either.right(names))
  })

  it.each([
    ["..", "leads out of the workspace"],
    ["../x", "leads out of the workspace"],
    ["a/../../x", "leads out of the workspace"],
    ["/workspace/../etc", "leads out of the workspace"],
    ["/etc/passwd", "absolute paths must be under /workspace"],
    ["/workspacex/a", "absolute paths must be under /workspace"],
    ["a\u0000b", "NUL byte"],
    [`${"x".repeat(256)}`, "longer than 255 bytes"],
    ["a/".repeat(2049), "longer than 4096"]
  ])("refuses %j (%s)", (input, reason) => {
    const result = parseWorkspacePath(input)
    expect(Either.isLeft(result) && result.left.message).toContain(reason)
  })

  it("whatever the input, an accepted path is plain names with no '.', '..', '/' or NUL", () => {
    const part = fc.oneof(fc.constantFrom("..", ".", "", "a", "/workspace", "\u0000", "b/c"), fc.string({ maxLength: 6 }))
    fc.assert(
      fc.property(fc.array(part, { maxLength: 10 }), fc.boolean(), (parts, absolute) => {
        const result = parseWorkspacePath((absolute ? "/" : "") + parts.join("/"))
        if (Either.isRight(result))
          for (const name of result.right) expect(name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\u0000")).toBe(false)
      }),
      { numRuns: 2000 }
    )
  })

  it("shows the workspace root as '.'", () => {
    expect(showWorkspacePath([])).toBe(".")
    expect(showWorkspacePath(["a", "b"])).toBe("a/b")
  })
})

const entry = (path: string, sha256: string, kind: "file" | "symlink" = "file"): ManifestEntry => ({ path, kind, sha256, bytes: 1 })

describe("compareManifests", () => {
  it("names added, changed (content or kind) and removed paths, sorted", () => {
    const before = [entry("same", "1"), entry("edited", "2"), entry("gone", "3"), entry("relinked", "4")]
    const after = [entry("z-new", "9"), entry("same", "1"), entry("edited", "5"), entry("relinked", "4", "symlink"), entry("a-new", "8")]
    const changes = compareManifests(before, after)
    expect(changes.added.map((e) => e.path)).toEqual(["a-new", "z-new"])
    expect(changes.changed.map((c) => `${c.before.path}:${c.before.sha256}->${c.after.sha256}`)).toEqual(["edited:2->5", "relinked:4->4"])
    expect(changes.removed.map((e) => e.path)).toEqual(["gone"])
  })
})

/** Both versions as the hunks of a full-context diff spell them. */
const sides = (patch: string) => {
  const before: Array<string> = []
  const after: Array<string> = []
  let last: "-" | "+" | " " | null = null
  for (const line of patch.split("\n").slice(2, -1)) {
    if (line.startsWith("@@")) continue
    if (line === "\\ No newline at end of file") {
      if (last !== "+") before[before.length - 1] = before[before.length - 1]!.slice(0, -1)
      if (last !== "-") after[after.length - 1] = after[after.length - 1]!.slice(0, -1)
      continue
    }
    last = line[0] as "-" | "+" | " "
    if (last !== "+") before.push(line.slice(1) + "\n")
    if (last !== "-") after.push(line.slice(1) + "\n")
  }
  return { before: before.join(""), after: after.join("") }
}

describe("unifiedDiff", () => {
  it("spells an added file and a one-line change as diff -u does", () => {
    expect(unifiedDiff("f", null, "a\nb\n")).toBe("--- /dev/null\n+++ b/f\n@@ -0,0 +1,2 @@\n+a\n+b\n")
    expect(unifiedDiff("f", "1\n2\n3\n4\n5\n6\n7\n8\n", "1\n2\n3\n4\nFIVE\n6\n7\n8\n")).toBe("--- a/f\n+++ b/f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n")
    expect(unifiedDiff("f", "x", "x\n")).toBe("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-x\n\\ No newline at end of file\n+x\n")
    expect(unifiedDiff("f", "same\n", "same\n")).toBe("")
  })

  it("a full-context diff holds both versions exactly", () => {
    const text = fc.array(fc.constantFrom("a", "b", "c", "", "dd"), { maxLength: 12 }).chain((lines) =>
      fc.boolean().map((newline) => lines.join("\n") + (newline && lines.length > 0 ? "\n" : ""))
    )
    fc.assert(
      fc.property(text, text, (before, after) => {
        const patch = unifiedDiff("f", before, after, 1_000_000)
        if (before === after) {
          expect(patch).toBe("")
          return
        }
        expect(sides(patch)).toEqual({ before, after })
      }),
      { numRuns: 1000 }
    )
  })

  it("hunk headers count the lines they hold", () => {
    const lines = fc.array(fc.constantFrom("a", "b", "c"), { maxLength: 40 }).map((l) => l.map((x) => `${x}\n`).join(""))
    fc.assert(
      fc.property(lines, lines, (before, after) => {
        const patch = unifiedDiff("f", before, after)
        const hunks = patch.split("\n").slice(2, -1).join("\n").split(/^@@ /m).filter((h) => h !== "")
        for (const hunk of hunks) {
          const [header, ...body] = hunk.split("\n").filter((l) => l !== "")
          const [, , aCount = "1", , bCount = "1"] = /^-(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@$/.exec(header!) ?? []
          expect(body.filter((l) => l[0] !== "+").length).toBe(Number(aCount))
          expect(body.filter((l) => l[0] !== "-").length).toBe(Number(bCount))
        }
      }),
      { numRuns: 500 }
    )
  })
})
