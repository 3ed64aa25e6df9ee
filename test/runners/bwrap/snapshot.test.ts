// Workspace snapshots of the bwrap runner: a copy that never follows the sandbox's symlinks, a hash over
// a canonical listing, and a restore the sandbox user can keep working in.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { canonicalListing } from "../../../src/runners/bwrap/workspace-copy.js"
import { dataDir, launchSandbox, out, testRunner } from "./sandbox-fixture.js"

describe("canonicalListing", () => {
  it("sorts by the UTF-8 bytes of the path and writes one JSON line per entry", () => {
    const listing = canonicalListing([
      { path: "b", kind: "f", mode: 0o644, digest: "bb" },
      { path: "a/é", kind: "l", mode: 0o777, digest: "../x" },
      { path: "a", kind: "d", mode: 0o755, digest: "" },
      { path: "a/z", kind: "f", mode: 0o600, digest: "zz" }
    ])
    expect(listing).toBe(['["a","d","755",""]', '["a/z","f","600","zz"]', '["a/é","l","777","../x"]', '["b","f","644","bb"]', ""].join("\n"))
  })
})

describe("Runner.snapshot / restore (bwrap)", () => {
  it.scopedLive("copies the workspace without following links and hashes it canonically", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      const sandbox = yield* launchSandbox(runner, dir, "snap")
      yield* sandbox.sh("mkdir -p src/deep && echo hello > src/deep/a.txt && printf x > b && chmod 750 b && ln -s /etc/shadow leak && ln -s src/deep dirlink")
      const first = yield* runner.snapshot(sandbox.handle, path.join(dir, "snap-1"))
      const second = yield* runner.snapshot(sandbox.handle, path.join(dir, "snap-2"))
      expect(first.contentHash).toMatch(/^[0-9a-f]{64}$/)
      expect(second.contentHash).toBe(first.contentHash)
      const copy = path.join(dir, "snap-1")
      expect(fs.readFileSync(path.join(copy, "src/deep/a.txt"), "utf8")).toBe("hello\n")
      expect(fs.statSync(path.join(copy, "b")).mode & 0o777).toBe(0o750)
      expect(fs.lstatSync(path.join(copy, "leak")).isSymbolicLink()).toBe(true)
      expect(fs.readlinkSync(path.join(copy, "leak"))).toBe("/etc/shadow")
      expect(fs.lstatSync(path.join(copy, "dirlink")).isSymbolicLink()).toBe(true)
      const expected = createHash("sha256")
        .update(
          canonicalListing([
            { path: "b", kind: "f", mode: 0o750, digest: createHash("sha256").update("x").digest("hex") },
            { path: "dirlink", kind: "l", mode: 0o777, digest: "src/deep" },
            { path: "leak", kind: "l", mode: 0o777, digest: "/etc/shadow" },
            { path: "src", kind: "d", mode: fs.statSync(path.join(copy, "src")).mode & 0o7777, digest: "" },
            { path: "src/deep", kind: "d", mode: fs.statSync(path.join(copy, "src/deep")).mode & 0o7777, digest: "" },
            { path: "src/deep/a.txt", kind: "f", mode: fs.statSync(path.join(copy, "src/deep/a.txt")).mode & 0o7777, digest: createHash("sha256").update("hello\n").digest("hex") }
          ])
        )
        .digest("hex")
      expect(first.contentHash).toBe(expected)
      yield* sandbox.sh("echo changed > b")
      const third = yield* runner.snapshot(sandbox.handle, path.join(dir, "snap-3"))
      expect(third.contentHash).not.toBe(first.contentHash)
      const clash = yield* Effect.flip(runner.snapshot(sandbox.handle, copy))
      expect(clash._tag).toBe("RunnerIoFailure")
    })
  )

  it.scopedLive("restores a snapshot the sandbox user can keep working in", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      const sandbox = yield* launchSandbox(runner, dir, "restore")
      yield* sandbox.sh("mkdir keep && echo v1 > keep/file && echo v1 > top")
      const snap = path.join(dir, "snap")
      const taken = yield* runner.snapshot(sandbox.handle, snap)
      yield* sandbox.sh("rm -r keep && echo v2 > top && echo new > extra")
      yield* runner.restore(sandbox.handle, snap)
      expect(out(yield* sandbox.sh("cat keep/file top; ls"))).toBe("v1\nv1\nkeep\ntop\n")
      expect((yield* sandbox.sh("echo v3 > keep/file && cat keep/file")).exitCode).toBe(0)
      yield* sandbox.sh("echo v1 > keep/file")
      expect((yield* runner.snapshot(sandbox.handle, path.join(dir, "again"))).contentHash).toBe(taken.contentHash)
      expect((yield* runner.status(sandbox.handle)).state).toBe("running")
    })
  )
})
