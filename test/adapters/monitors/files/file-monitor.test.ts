// The file monitor against a real bwrap sandbox writing its workspace, recording to a real SQLite
// ledger: final hashes, coalescing counts, change kinds, diffs, and gaps followed by a rescan.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { MonitorSinkError, type ObservationSink } from "../../../../src/adapters/monitors/monitor.js"
import { applyPatch } from "./apply-patch.js"
import { filesUnder, lastChanges, monitoredSandbox, wrongHashes, type Observation } from "./monitored-sandbox.js"

const fileChanges = (events: ReadonlyArray<Observation>) => events.filter((e) => e.type === "FileChanged").map((e) => e.data)

const expectBracketed = (events: ReadonlyArray<Observation>) => {
  expect(events[0]?.type).toBe("MonitorStarted")
  expect(events.at(-1)?.type).toBe("MonitorStopped")
  expect(events.at(-1)?.data["observed"]).toBe(events.length - 2)
}

describe("file monitor (bwrap sandbox, SQLite ledger)", () => {
  it.scopedLive(
    "10,000 writes to 500 files: the last event of every file has its hash on disk, and every notification is in exactly one event",
    () =>
      Effect.gen(function* () {
        const { result, workspace, stats, events } = yield* monitoredSandbox("burst", {}, ({ sandbox, monitor }) =>
          Effect.gen(function* () {
            const run = yield* sandbox.sh(`i=0; while [ $i -lt 10000 ]; do echo "line $i" >> "f$((i % 500))"; i=$((i+1)); done`)
            yield* monitor.flush
            return run
          })
        )
        expect(result.exitCode).toBe(0)
        expect(filesUnder(workspace)).toHaveLength(500)
        expect(wrongHashes(workspace, events)).toEqual([])
        const changes = fileChanges(events)
        expect(new Set(changes.map((c) => c.path)).size).toBe(500)
        for (const c of changes) expect(c.writes).toBeGreaterThanOrEqual(1)
        // every notification went into one event: none dropped, none invented by re-checks or rescans
        expect(changes.reduce((sum, c) => sum + c.writes!, 0)).toBe(stats.notifications)
        expect(stats).toMatchObject({ synthetic: 0, dropped: 0, gaps: 0, events: changes.length })
        // each `>>` is at most one creation and one modification notification; bursts were coalesced
        expect(stats.notifications).toBeLessThanOrEqual(10_500)
        expect(changes.length).toBeLessThan(10_000)
        expect(events.some((e) => e.type === "MonitorGap")).toBe(false)
        expectBracketed(events)
      }),
    120_000
  )

  it.scopedLive("files written into a directory the same instant it is created are noticed, not left to the closing rescan", () =>
    Effect.gen(function* () {
      const { result, workspace, stats, events } = yield* monitoredSandbox("fresh-dirs", {}, ({ sandbox, monitor }) =>
        Effect.gen(function* () {
          const run = yield* sandbox.sh(`i=0; while [ $i -lt 100 ]; do mkdir -p d$i/sub && echo $i > d$i/sub/f && echo $i > d$i/g; i=$((i+1)); done`)
          yield* monitor.flush
          return run
        })
      )
      expect(result.exitCode).toBe(0)
      expect(wrongHashes(workspace, events)).toEqual([])
      expect(new Set(fileChanges(events).map((c) => c.path)).size).toBe(400)
      expect(stats).toMatchObject({ synthetic: 0, dropped: 0, gaps: 0 })
      expect(events.some((e) => e.type === "MonitorGap")).toBe(false)
      expectBracketed(events)
    }), 120_000)

  it.scopedLive("delete, rename (file and directory) and chmod are recorded with their change kind and paths", () =>
    Effect.gen(function* () {
      const { result, events } = yield* monitoredSandbox("kinds", {}, ({ sandbox, monitor }) =>
        Effect.gen(function* () {
          yield* sandbox.sh("echo a > keep; echo b > gone; echo c > old; mkdir dir; echo d > dir/inner")
          yield* monitor.flush
          const before = (yield* monitor.observed)
          const run = yield* sandbox.sh("rm gone && mv old new && chmod 600 keep && mv dir moved")
          yield* monitor.flush
          return { run, before }
        })
      )
      expect(result.run.exitCode).toBe(0)
      const later = fileChanges(events.slice(1 + result.before))
      expect(later).toContainEqual(expect.objectContaining({ path: "gone", change: "deleted", sha256: null, mode: null, size: null }))
      expect(later).toContainEqual(expect.objectContaining({ path: "new", change: "renamed", previousPath: "old" }))
      expect(later).toContainEqual(expect.objectContaining({ path: "keep", change: "mode", mode: 0o600 }))
      expect(later).toContainEqual(expect.objectContaining({ path: "moved/", change: "renamed", previousPath: "dir/" }))
      expect(later).toContainEqual(expect.objectContaining({ path: "moved/inner", change: "renamed", previousPath: "dir/inner" }))
      expect(later.filter((c) => c.change === "created" || c.change === "modified")).toEqual([])
      expectBracketed(events)
    })
  )

  it.scopedLive("a text edit stores a unified diff blob that shows the changed line and turns the old text into the new", () =>
    Effect.gen(function* () {
      const lines = Array.from({ length: 12 }, (_, i) => `line ${i + 1}`)
      const { result, blobs, events } = yield* monitoredSandbox("diff", {}, ({ sandbox, monitor }) =>
        Effect.gen(function* () {
          yield* sandbox.sh(`i=1; while [ $i -le ${lines.length} ]; do echo "line $i"; i=$((i+1)); done > notes.txt`)
          yield* monitor.flush
          const run = yield* sandbox.sh("sed -i 's/^line 5$/LINE FIVE/' notes.txt")
          yield* monitor.flush
          return run
        })
      )
      expect(result.exitCode).toBe(0)
      const edit = fileChanges(events).filter((c) => c.path === "notes.txt").at(-1)!
      expect(edit.change).toBe("modified")
      expect(edit.diff).not.toBeNull()
      const patch = Buffer.from((yield* blobs.get(edit.diff!.sha256))!).toString("utf8")
      expect(patch).toContain("\n-line 5\n+LINE FIVE\n")
      const oldText = lines.map((l) => `${l}\n`).join("")
      expect(applyPatch(oldText, patch)).toBe(oldText.replace("line 5\n", "LINE FIVE\n"))
    })
  )

  it.scopedLive("flooding past the queue bound records a MonitorGap, and the rescan after it leaves every hash right", () =>
    Effect.gen(function* () {
      const { result, workspace, stats, events } = yield* monitoredSandbox("flood", { maxPendingPaths: 20 }, ({ sandbox, monitor }) =>
        Effect.gen(function* () {
          const run = yield* sandbox.sh(`i=0; while [ $i -lt 300 ]; do echo "$i" > "n$i"; echo more >> "n$((i / 2))"; i=$((i+1)); done`)
          yield* monitor.flush
          return run
        })
      )
      expect(result.exitCode).toBe(0)
      const gapAt = events.findIndex((e) => e.type === "MonitorGap")
      expect(gapAt).toBeGreaterThan(0)
      expect(events[gapAt]!.data.reason).toMatch(/queue full \(20 paths pending\): \d+ notifications dropped/)
      expect(stats.dropped).toBeGreaterThan(0)
      expect(stats.rescans).toBeGreaterThanOrEqual(1)
      expect(filesUnder(workspace)).toHaveLength(300)
      expect(wrongHashes(workspace, events)).toEqual([])
      // the files the dropped notifications were about are recorded after the gap
      const after = lastChanges(events.slice(gapAt))
      expect(after.size).toBeGreaterThan(0)
      expectBracketed(events)
    })
  )

  it.scopedLive("batches the ledger refuses become a MonitorGap counting them, and the rescan records what they held", () =>
    Effect.gen(function* () {
      let refusing = false
      const flaky = (sink: ObservationSink): ObservationSink => ({
        append: (events) => (refusing ? Effect.fail(new MonitorSinkError({ reason: "ledger unavailable (test)" })) : sink.append(events))
      })
      const { workspace, events } = yield* monitoredSandbox(
        "refused",
        {},
        ({ sandbox, monitor }) =>
          Effect.gen(function* () {
            refusing = true
            yield* sandbox.sh(`for f in a b c d; do echo "$f" > "$f"; done`)
            yield* Effect.sleep("1 second")
            refusing = false
            yield* sandbox.sh("echo e > e")
            yield* monitor.flush
          }),
        flaky
      )
      const gap = events.find((e) => e.type === "MonitorGap")!
      expect(gap.data.reason).toContain("ledger unavailable (test)")
      expect(gap.data["lost"]).toBeGreaterThanOrEqual(1)
      expect(new Set(fileChanges(events).map((c) => c.path))).toEqual(new Set(["a", "b", "c", "d", "e"]))
      expect(wrongHashes(workspace, events)).toEqual([])
      expect(fs.existsSync(path.join(workspace, "a"))).toBe(true)
    })
  )
})
