// The SQLite store's two durabilities, seen in the system calls (strace): deferred appends commit
// without an fsync, an immediate append fsyncs (which makes the deferred ones before it durable too),
// and a deferred append with nothing after it is synced by the background sync.
import { describe, expect, it } from "vitest"
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { tempDir } from "../support/ledger-fixture.js"

describe("SQLite store durability (strace)", () => {
  it("skips the fsync only for deferred commits, and syncs them soon after", () => {
    const dir = tempDir("hv-durability-")
    const trace = join(dir, "trace")
    const run = spawnSync(
      "strace",
      ["-f", "-qq", "-e", "trace=fsync,fdatasync,access,faccessat,faccessat2", "-o", trace, process.execPath, "--import", "tsx", "test/support/deferred-appends.ts", join(dir, "ledger.db")],
      { encoding: "utf8", timeout: 60_000 }
    )
    expect(run.error, "strace must be installed (scripts/test.sh installs it)").toBeUndefined()
    expect(run.stderr).not.toMatch(/deferred-appends:/)
    expect(run.status).toBe(0)
    expect(JSON.parse(run.stdout.trim())).toEqual({ pending: 5, afterImmediate: 0, afterWait: 0 })

    const lines = readFileSync(trace, "utf8").split("\n")
    const phases = new Map<string, number>()
    let current = "open"
    for (const line of lines) {
      const mark = /\/hv-phase-(\w+)/.exec(line)
      if (mark) current = mark[1]!
      else if (/\bf(data)?sync\(/.test(line) && !/resumed/.test(line)) phases.set(current, (phases.get(current) ?? 0) + 1)
    }
    expect(phases.get("deferred") ?? 0).toBe(0)
    expect(phases.get("immediate") ?? 0).toBeGreaterThanOrEqual(1)
    expect(phases.get("background") ?? 0).toBeGreaterThanOrEqual(1)
  }, 90_000)
})
