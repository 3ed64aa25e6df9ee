// Choosing the OCI runtime the runc shim drives: given what the host has, when a setting asks, then
// this runtime (and why) or this problem (and its fix).
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { chooseRuntime, v1MountCommand } from "../../../src/runners/containerd/oci-runtime.js"
import type { RuntimeFacts } from "../../../src/runners/containerd/oci-runtime.js"

const both: RuntimeFacts = { crun: "/usr/bin/crun", runc: "/usr/sbin/runc", hybrid: null }
const hybridClean: RuntimeFacts = { ...both, hybrid: { unified: "/sys/fs/cgroup/unified", controllers: [] } }
const hybridHugetlb: RuntimeFacts = { ...both, hybrid: { unified: "/sys/fs/cgroup/unified", controllers: ["hugetlb"] } }

describe("chooseRuntime", () => {
  it("auto picks crun on a cgroup v2 host and on a hybrid host whose cgroup2 hierarchy has no controllers", () => {
    for (const facts of [both, hybridClean]) {
      const chosen = Either.getOrThrow(chooseRuntime("auto", facts))
      expect(chosen).toMatchObject({ name: "crun", binary: "/usr/bin/crun" })
      expect(chosen.reason).toMatch(/^auto: /)
    }
  })

  it("auto falls back to runc, saying why, when crun is missing or refuses the hybrid host", () => {
    const missing = Either.getOrThrow(chooseRuntime("auto", { ...both, crun: null }))
    expect(missing).toMatchObject({ name: "runc", binary: "/usr/sbin/runc" })
    expect(missing.reason).toContain("crun is not installed")
    const refused = Either.getOrThrow(chooseRuntime("auto", hybridHugetlb))
    expect(refused).toMatchObject({ name: "runc", binary: "/usr/sbin/runc" })
    expect(refused.reason).toContain("holds the controller hugetlb")
  })

  it("an explicit crun that cannot run fails with the fix: the install, or the v1 mount of the controllers, or forcing runc", () => {
    const notInstalled = Either.flip(chooseRuntime("crun", { ...both, crun: null }))
    expect(Either.getOrThrow(notInstalled).fix).toContain("apt-get install -y crun")
    const refused = Either.getOrThrow(Either.flip(chooseRuntime("crun", hybridHugetlb)))
    expect(refused.missing).toContain("/sys/fs/cgroup/unified holds the controller hugetlb")
    expect(refused.fix).toContain("mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb")
    expect(refused.fix).toContain("HYDRAVISOR_CONTAINERD_RUNTIME=runc")
    const two = Either.getOrThrow(Either.flip(chooseRuntime("crun", { ...both, hybrid: { unified: "/cg/unified", controllers: ["hugetlb", "misc"] } })))
    expect(two.fix).toContain(`${v1MountCommand("/cg/unified", "hugetlb")} && ${v1MountCommand("/cg/unified", "misc")}`)
  })

  it("runc is used when asked for, even where crun would run; without runc that fails", () => {
    expect(Either.getOrThrow(chooseRuntime("runc", both))).toMatchObject({ name: "runc", binary: "/usr/sbin/runc" })
    expect(Either.getOrThrow(Either.flip(chooseRuntime("runc", { ...both, runc: null }))).fix).toContain("apt-get install -y runc")
  })

  it("auto with neither usable fails naming both", () => {
    const neither = Either.getOrThrow(Either.flip(chooseRuntime("auto", { ...hybridHugetlb, runc: null })))
    expect(neither.missing).toContain("neither crun nor runc")
    expect(neither.fix).toContain("apt-get install -y runc")
    expect(neither.fix).toContain("mount -t cgroup -o hugetlb")
  })
})
