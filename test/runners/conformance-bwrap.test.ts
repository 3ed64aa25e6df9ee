// The runner conformance suite against the bubblewrap runner (host /usr as the root filesystem).
import { make } from "../../src/runners/bwrap/bwrap-runner.js"
import { TEST_CGROUP_PARENT } from "./bwrap/sandbox-fixture.js"
import { runnerConformance } from "./conformance.js"

runnerConformance({
  name: "bwrap",
  makeRunner: make({ cgroupParent: TEST_CGROUP_PARENT }),
  prepare: async () => ({ rootfs: { kind: "host" } }),
  prepareTimeoutMs: 10_000,
  afterRunnerKilled: "gone"
})
