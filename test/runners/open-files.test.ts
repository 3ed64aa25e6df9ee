// The open-file limit a runner applies: the spec's, capped at the runner's own hard limit (read from
// /proc/self/limits, checked here against what the shell reports for the same process tree).
import { describe, expect, it } from "vitest"
import { execFileSync } from "node:child_process"
import { applicableResources, openFilesLimit, ownOpenFilesMax } from "../../src/runners/open-files.js"

describe("open-file limit", () => {
  it("reads this process's hard RLIMIT_NOFILE as the shell sees it", () => {
    const shell = execFileSync("/bin/sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim()
    expect(ownOpenFilesMax()).toBe(shell === "unlimited" ? Infinity : Number(shell))
  })

  it("applies the spec's limit up to the runner's own, and nothing when the spec has none", () => {
    expect(openFilesLimit(64, 20_000)).toBe(64)
    expect(openFilesLimit(65_536, 20_000)).toBe(20_000)
    expect(openFilesLimit(undefined, 20_000)).toBeUndefined()
    const resources = { cpuCores: 1, memoryMb: 64, pids: 64 }
    expect(applicableResources(resources, 100)).toBe(resources)
    expect(applicableResources({ ...resources, fileHandles: 500 }, 100)).toEqual({ ...resources, fileHandles: 100 })
  })
})
