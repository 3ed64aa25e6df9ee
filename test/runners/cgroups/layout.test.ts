// The pure cgroup layout module: which layout a mount table means, where a sandbox's cgroups live,
// which files carry its limits and counters.
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import {
  chooseLayout,
  counterFiles,
  delegationWrites,
  limitWrites,
  parseFlatKeyed,
  parseMounts,
  parsePids,
  procsFiles,
  sandboxCgroupPaths
} from "../../../src/runners/cgroups/layout.js"
import type { CgroupLayout } from "../../../src/runners/cgroups/layout.js"
import { sandboxId } from "../arbitraries.js"

const HYBRID_MOUNTS = `tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,relatime,cpu,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
`

const V2_MOUNTS = `proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
`

const hybrid: CgroupLayout = {
  kind: "hybrid",
  unified: "/sys/fs/cgroup/unified",
  memory: "/sys/fs/cgroup/memory",
  pids: "/sys/fs/cgroup/pids",
  cpu: "/sys/fs/cgroup/cpu,cpuacct"
}
const v2: CgroupLayout = { kind: "v2", root: "/sys/fs/cgroup", controllers: ["cpu", "memory", "pids"] }

describe("parseMounts", () => {
  it("reads mount points, types and options, undoing octal escapes", () => {
    const mounts = parseMounts("none /mnt/with\\040space cgroup2 rw,nsdelegate 0 0\n")
    expect(mounts).toEqual([{ mountPoint: "/mnt/with space", fsType: "cgroup2", options: ["rw", "nsdelegate"] }])
  })
})

describe("chooseLayout", () => {
  it("picks hybrid when v1 holds memory and pids and a controller-less cgroup2 is mounted", () => {
    expect(chooseLayout(parseMounts(HYBRID_MOUNTS), "")).toEqual(Either.right(hybrid))
  })

  it("picks v2 when the cgroup2 root owns memory and pids", () => {
    expect(chooseLayout(parseMounts(V2_MOUNTS), "cpuset cpu io memory hugetlb pids rdma misc\n")).toEqual(Either.right(v2))
  })

  it("names a missing cgroup2 hierarchy and how to mount one", () => {
    const result = chooseLayout(parseMounts(HYBRID_MOUNTS.replace(/^cgroup2.*$/m, "")), null)
    expect(Either.isLeft(result) && result.left.missing).toMatch(/cgroup2/)
    expect(Either.isLeft(result) && result.left.fix).toMatch(/mount -t cgroup2/)
  })

  it("names the missing controllers", () => {
    const result = chooseLayout(parseMounts(V2_MOUNTS), "cpu io\n")
    expect(Either.isLeft(result) && result.left.missing).toMatch(/memory and pids cgroup controllers are/)
  })
})

describe("sandboxCgroupPaths", () => {
  it("spreads a hybrid sandbox over the tracking and each v1 hierarchy", () => {
    expect(sandboxCgroupPaths(hybrid, "hydravisor", "s1")).toEqual({
      kind: "hybrid",
      tracking: "/sys/fs/cgroup/unified/hydravisor/s1",
      memory: "/sys/fs/cgroup/memory/hydravisor/s1",
      pids: "/sys/fs/cgroup/pids/hydravisor/s1",
      cpu: "/sys/fs/cgroup/cpu,cpuacct/hydravisor/s1",
      dirs: [
        "/sys/fs/cgroup/unified/hydravisor/s1",
        "/sys/fs/cgroup/memory/hydravisor/s1",
        "/sys/fs/cgroup/pids/hydravisor/s1",
        "/sys/fs/cgroup/cpu,cpuacct/hydravisor/s1"
      ]
    })
  })

  it("keeps a v2 sandbox in one directory", () => {
    const paths = sandboxCgroupPaths(v2, "hydravisor", "s1")
    expect(paths.dirs).toEqual(["/sys/fs/cgroup/hydravisor/s1"])
    expect(new Set([paths.tracking, paths.memory, paths.pids, paths.cpu])).toEqual(new Set(["/sys/fs/cgroup/hydravisor/s1"]))
  })

  it("puts every directory of any sandbox under <mount>/<parent>/<id>", () => {
    fc.assert(
      fc.property(sandboxId, fc.constantFrom(hybrid, v2), (id, layout): void => {
        const paths = sandboxCgroupPaths(layout, "hydravisor", id)
        for (const dir of paths.dirs) expect(dir.endsWith(`/hydravisor/${id}`)).toBe(true)
        expect(new Set(paths.dirs).size).toBe(paths.dirs.length)
      })
    )
  })
})

describe("limitWrites", () => {
  const limits = { cpuCores: 1.5, memoryMb: 64, pids: 64 }

  it("writes v1 memory before memory+swap, then pids and the CFS quota", () => {
    const writes = limitWrites(sandboxCgroupPaths(hybrid, "hv", "s"), limits, { memsw: true, swapMax: false })
    expect(writes.map((w) => [w.file.split("/").slice(-1)[0], w.value])).toEqual([
      ["memory.limit_in_bytes", "67108864"],
      ["memory.memsw.limit_in_bytes", "67108864"],
      ["pids.max", "64"],
      ["cpu.cfs_period_us", "100000"],
      ["cpu.cfs_quota_us", "150000"]
    ])
  })

  it("leaves memsw out when the kernel has no swap accounting", () => {
    const writes = limitWrites(sandboxCgroupPaths(hybrid, "hv", "s"), limits, { memsw: false, swapMax: false })
    expect(writes.some((w) => w.file.endsWith("memsw.limit_in_bytes"))).toBe(false)
  })

  it("writes v2 memory.max, no swap, pids.max and cpu.max", () => {
    const writes = limitWrites(sandboxCgroupPaths(v2, "hv", "s"), limits, { memsw: false, swapMax: true })
    expect(writes).toEqual([
      { file: "/sys/fs/cgroup/hv/s/memory.max", value: "67108864" },
      { file: "/sys/fs/cgroup/hv/s/memory.swap.max", value: "0" },
      { file: "/sys/fs/cgroup/hv/s/pids.max", value: "64" },
      { file: "/sys/fs/cgroup/hv/s/cpu.max", value: "150000 100000" }
    ])
  })
})

describe("delegationWrites", () => {
  it("enables the v2 controllers for the parent's children, and nothing in hybrid", () => {
    expect(delegationWrites(v2, "hv").map((w) => `${w.file} ${w.value}`)).toEqual([
      "/sys/fs/cgroup/cgroup.subtree_control +cpu",
      "/sys/fs/cgroup/cgroup.subtree_control +memory",
      "/sys/fs/cgroup/cgroup.subtree_control +pids",
      "/sys/fs/cgroup/hv/cgroup.subtree_control +cpu",
      "/sys/fs/cgroup/hv/cgroup.subtree_control +memory",
      "/sys/fs/cgroup/hv/cgroup.subtree_control +pids"
    ])
    expect(delegationWrites(hybrid, "hv")).toEqual([])
  })
})

describe("procsFiles", () => {
  it("joins an exec's own tracking cgroup plus every v1 hierarchy", () => {
    const paths = sandboxCgroupPaths(hybrid, "hv", "s")
    expect(procsFiles(paths, `${paths.tracking}/exec-1`)).toEqual([
      "/sys/fs/cgroup/unified/hv/s/exec-1/cgroup.procs",
      "/sys/fs/cgroup/memory/hv/s/cgroup.procs",
      "/sys/fs/cgroup/pids/hv/s/cgroup.procs",
      "/sys/fs/cgroup/cpu,cpuacct/hv/s/cgroup.procs"
    ])
  })

  it("joins a single cgroup in v2", () => {
    const paths = sandboxCgroupPaths(v2, "hv", "s")
    expect(procsFiles(paths)).toEqual(["/sys/fs/cgroup/hv/s/cgroup.procs"])
  })
})

describe("counters", () => {
  it("reads OOM kills from memory.oom_control in v1 and memory.events in v2", () => {
    expect(counterFiles(sandboxCgroupPaths(hybrid, "hv", "s")).oomKills).toEqual({ file: "/sys/fs/cgroup/memory/hv/s/memory.oom_control", key: "oom_kill" })
    expect(counterFiles(sandboxCgroupPaths(v2, "hv", "s")).oomKills).toEqual({ file: "/sys/fs/cgroup/hv/s/memory.events", key: "oom_kill" })
    expect(counterFiles(sandboxCgroupPaths(v2, "hv", "s")).pidsLimitHits).toEqual({ file: "/sys/fs/cgroup/hv/s/pids.events", key: "max" })
  })

  it("parses flat-keyed files and pid lists", () => {
    expect(parseFlatKeyed("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n").get("oom_kill")).toBe(2)
    expect(parseFlatKeyed("populated 1\nfrozen 0\n")).toEqual(new Map([["populated", 1], ["frozen", 0]]))
    expect(parsePids("12\n345\n\n")).toEqual([12, 345])
  })
})
