// The containerd runner's settings and the fixed places and timings it works with.
import * as path from "node:path"
import type { EtcPaths } from "../bwrap/mapping.js"
import { DEFAULT_SOCKET, SOCKET_ENV } from "./host.js"
import type { RuntimeSetting } from "./oci-runtime.js"

export interface ContainerdRunnerConfig {
  /** containerd's socket; `HYDRAVISOR_CONTAINERD_SOCKET` or /run/containerd/containerd.sock by default. */
  readonly socket: string
  /** containerd namespace holding every sandbox container. */
  readonly namespace: string
  /** runc creates each sandbox's cgroup at /<cgroupParent>/<id> in every hierarchy. */
  readonly cgroupParent: string
  /** Sandbox users get host uids in [uidBase, uidBase + uidCount), one per sandbox id (as bwrap's). */
  readonly uidBase: number
  readonly uidCount: number
  readonly startTimeoutMs: number
  /**
   * The OCI runtime of tasks this runner creates: auto (crun when usable, else runc), crun or runc.
   * Unset: `HYDRAVISOR_CONTAINERD_RUNTIME`, else auto. A running task keeps the one it started with.
   */
  readonly runtime?: RuntimeSetting
}

export const defaultConfig = (): ContainerdRunnerConfig => ({
  socket: process.env[SOCKET_ENV] ?? DEFAULT_SOCKET,
  namespace: "hydravisor",
  cgroupParent: "hydravisor-containerd",
  uidBase: 0x7000_0000,
  uidCount: 0x1_0000,
  startTimeoutMs: 10_000
})

/** How long to keep reading after the process exited, when a background child still holds its output. */
export const PIPE_GRACE_MS = 100
/** containerd's exit event for an exec follows any OOM event of the same kill; wait this long for it. */
export const EXIT_EVENT_WAIT_MS = 250
export const SIGKILL = 9

/** Where a sandbox's generated /etc files live, under its state dir. */
export const etcPaths = (stateDir: string): Required<EtcPaths> => ({
  passwd: path.join(stateDir, "etc", "passwd"),
  group: path.join(stateDir, "etc", "group"),
  hosts: path.join(stateDir, "etc", "hosts"),
  resolvConf: path.join(stateDir, "etc", "resolv.conf")
})
/** The sandbox's exec I/O fifos. */
export const ioDir = (stateDir: string) => path.join(stateDir, "io")

