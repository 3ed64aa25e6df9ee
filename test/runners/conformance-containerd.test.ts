// The runner conformance suite against the containerd runner: containerd started if its socket is
// absent, sandboxes on the test image (debootstrap minbase, built once and cached).
import { make } from "../../src/runners/containerd/containerd-runner.js"
import { runnerConformance } from "./conformance.js"
import { startContainerd, TEST_CONTAINERD, testImage } from "./containerd/fixture.js"

runnerConformance({
  name: "containerd",
  makeRunner: make(TEST_CONTAINERD),
  prepare: async () => {
    startContainerd()
    const image = await testImage()
    return { rootfs: { kind: "image", path: image.rootfs } }
  },
  // the first debootstrap takes about 30-40 s; later runs find the image cached
  prepareTimeoutMs: 600_000,
  afterRunnerKilled: "running"
})
