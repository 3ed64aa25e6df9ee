// Shared setup for tests against the real containerd: the test namespace and cgroup parent, starting
// containerd when its socket is absent (scripts/start-containerd.sh), and the test image, built once
// with debootstrap (minbase, no extra packages) and cached under the test data dir. Nothing here
// skips: without containerd, runc or debootstrap the tests fail with what is missing.
import { Effect, Either } from "effect"
import { execFileSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { ContainerdRunnerConfig } from "../../../src/runners/containerd/containerd-runner.js"
import { buildImage, templateRecipe } from "../../../src/runners/images/image-store.js"
import type { Image } from "../../../src/runners/images/image-store.js"

/** Survives between runs so the image is built once: `HYDRAVISOR_TEST_DATA_DIR` or /var/tmp/hydravisor-test. */
export const TEST_DATA_DIR = process.env["HYDRAVISOR_TEST_DATA_DIR"] ?? "/var/tmp/hydravisor-test"

export const TEST_CONTAINERD: Partial<ContainerdRunnerConfig> = { namespace: "hydravisor-test", cgroupParent: "hydravisor-test-containerd" }

export const START_SCRIPT = fileURLToPath(new URL("../../../scripts/start-containerd.sh", import.meta.url))

/** Runs the start script (a no-op when containerd answers); throws with its output when it fails. */
export const startContainerd = (): void => {
  try {
    execFileSync(START_SCRIPT, { stdio: ["ignore", "pipe", "pipe"], timeout: 30_000 })
  } catch (cause) {
    const stderr = (cause as { stderr?: Buffer }).stderr?.toString("utf8") ?? String(cause)
    throw new Error(`cannot start containerd with ${START_SCRIPT}:\n${stderr}`)
  }
}

/** The minbase bookworm image from the host's mirror; the first build prints debootstrap's progress. */
export const testImage = (): Promise<Image> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const recipe = yield* Either.match(templateRecipe([]), { onLeft: Effect.fail, onRight: Effect.succeed })
      return yield* buildImage(TEST_DATA_DIR, recipe, {
        onProgress: (line) => Effect.sync(() => process.stderr.write(`[test image] ${line}\n`))
      })
    })
  )

