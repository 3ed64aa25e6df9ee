// A CLI session whose daemon can run containerd sandboxes: containerd started if its socket is
// absent, the minbase test image (built once, cached) linked in, and a template `ctr-env` on it.
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { startContainerd, TEST_DATA_DIR, testImage } from "../runners/containerd/fixture.js"
import { session } from "./cli-session.js"

export const CONTAINERD_TEMPLATE = "ctr-env"

const template = `name: ${CONTAINERD_TEMPLATE}
description: containerd sandbox on the minbase test image
runner: containerd
resources: { cpu_cores: 0.5, memory_mb: 256, pids: 64 }
rootfs: { kind: image, packages: [] }
network: { mode: none }
default_policy: restricted
`

/** Starts containerd and builds (or finds) the test image; call from beforeAll with a long timeout. */
export const prepareContainerd = async (): Promise<void> => {
  startContainerd()
  await testImage()
}

const dataDirs: Array<string> = []

export const containerdSession = () => {
  const started = session({ templates: { [`${CONTAINERD_TEMPLATE}.yaml`]: template }, images: join(TEST_DATA_DIR, "images") })
  dataDirs.push(started.env.HYDRAVISOR_DATA_DIR)
  return started
}

const ctr = (...args: Array<string>) =>
  execFileSync("ctr", ["--address", process.env["HYDRAVISOR_CONTAINERD_SOCKET"] ?? "/run/containerd/containerd.sock", "--namespace", "hydravisor", ...args], { stdio: ["ignore", "pipe", "pipe"] }).toString()

/** containerd's own view of a container's task, asked with `ctr` (not through Hydravisor): RUNNING, STOPPED… or null. */
export const taskStatus = (containerId: string): string | null => {
  const line = ctr("tasks", "ls").split("\n").find((l) => l.split(/\s+/)[0] === containerId)
  return line?.split(/\s+/)[2] ?? null
}

/** Kills a container's task behind the daemon's back, as a crash inside it would. */
export const killTask = (containerId: string): void => {
  ctr("tasks", "kill", "--all", "--signal", "SIGKILL", containerId)
}

/** For afterAll (after stopDaemons): removes the containers a failed test left behind; none is the normal case. */
export const removeLeftoverContainers = (): void => {
  for (const dataDir of dataDirs.splice(0)) {
    const sandboxes = join(dataDir, "sandboxes")
    if (!existsSync(sandboxes)) continue
    for (const id of readdirSync(sandboxes)) {
      for (const args of [["tasks", "rm", "--force", id], ["containers", "rm", id]]) {
        try {
          ctr(...args)
        } catch {
          // not there: already removed by the test itself
        }
      }
    }
  }
}
