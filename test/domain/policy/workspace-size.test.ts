// disk_gb's books: the workspace's size is the sum of the last recorded size of every path still there,
// whatever order files are created, modified, renamed and deleted in; over the limit is reported once
// per crossing.
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { applyFileChange, checkDiskLimit, emptyWorkspaceSize } from "../../../src/domain/policy/workspace-size.js"
import type { Observation } from "../../../src/domain/policy/observation-rules.js"

let n = 0
const changed = (change: string, path: string, size: number | null, previousPath: string | null = null): Observation => ({
  id: `r${n++}`,
  at: "2026-11-25T00:00:00.000Z",
  type: "FileChanged",
  data: { path, change, previousPath, size }
})

const GB = 2 ** 30

describe("workspace size", () => {
  it("follows creates, rewrites, renames and deletes", () => {
    const w = emptyWorkspaceSize()
    applyFileChange(w, changed("created", "a", 100))
    applyFileChange(w, changed("created", "b", 50))
    applyFileChange(w, changed("modified", "a", 30))
    applyFileChange(w, changed("renamed", "c", 50, "b"))
    expect(w.total).toBe(80)
    applyFileChange(w, changed("deleted", "a", null))
    applyFileChange(w, { ...changed("created", "x", 10), type: "ProcessStarted" })
    expect(w.total).toBe(50)
    expect([...w.files]).toEqual([["c", 50]])
  })

  it("equals the sum of the last size of every path still there, for any sequence of changes", () => {
    const path = fc.constantFrom("a", "b", "c", "d/e")
    const step = fc.oneof(
      fc.tuple(fc.constantFrom("created", "modified", "mode"), path, fc.nat(1 << 30)).map(([change, p, size]) => changed(change, p, size)),
      path.map((p) => changed("deleted", p, null)),
      fc.tuple(path, path, fc.nat(1 << 30)).map(([to, from, size]) => changed("renamed", to, size, from))
    )
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const w = emptyWorkspaceSize()
        const model = new Map<string, number>()
        for (const s of steps) {
          applyFileChange(w, s)
          const { path: p, change, previousPath, size } = s.data as { path: string; change: string; previousPath: string | null; size: number | null }
          if (change === "renamed" && previousPath !== null) model.delete(previousPath)
          if (change === "deleted") model.delete(p)
          else model.set(p, size!)
        }
        expect(w.total).toBe([...model.values()].reduce((a, b) => a + b, 0))
      })
    )
  })

  it("reports going over the limit once, and again only after it was back under", () => {
    const w = emptyWorkspaceSize()
    const limitGb = 1000 / GB
    const step = (o: Observation) => {
      applyFileChange(w, o)
      return checkDiskLimit(w, limitGb, o)
    }
    expect(step(changed("created", "a", 800))).toBeNull()
    const over = step(changed("created", "b", 400))
    expect(over).toMatchObject({ kind: "resource-limit", rule: "resources.limits.disk_gb", evidence: [expect.any(String)] })
    expect(step(changed("created", "c", 10))).toBeNull()
    expect(step(changed("deleted", "b", null))).toBeNull()
    expect(step(changed("created", "d", 300))).not.toBeNull()
    expect(checkDiskLimit(w, undefined, changed("created", "e", 1))).toBeNull()
  })
})
