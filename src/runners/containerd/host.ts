// What the containerd runner needs from the host: root, a containerd answering on its socket, runc and
// the runc shim, mkfifo, and a cgroup layout to read the sandboxes' counters from. Each gap becomes a
// HostUnsupported that says how to close it.
import { Effect, Either, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { detectLayout } from "../cgroups/cgroup.js"
import type { CgroupLayout } from "../cgroups/layout.js"
import { HostUnsupported } from "../errors.js"
import { isUnreachable } from "./client.js"
import type { ContainerdClient } from "./client.js"
import { RUNNER, VersionResponse } from "./mapping.js"
import type { HostFacts } from "./mapping.js"

export const DEFAULT_SOCKET = "/run/containerd/containerd.sock"
export const SOCKET_ENV = "HYDRAVISOR_CONTAINERD_SOCKET"

export interface ContainerdHost {
  readonly layout: CgroupLayout
  readonly facts: HostFacts
  readonly version: string
  readonly mkfifo: string
}

const HOST_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

const findExecutable = (name: string, fix: string) =>
  Effect.suspend(() => {
    for (const dir of HOST_DIRS) {
      const file = path.join(dir, name)
      try {
        fs.accessSync(file, fs.constants.X_OK)
        return Effect.succeed(file)
      } catch {
        continue
      }
    }
    return Effect.fail(new HostUnsupported({ runner: RUNNER, missing: `${name} is not installed (looked in ${HOST_DIRS.join(", ")})`, fix }))
  })

export const startHint = (socket: string): string =>
  `Start it with \`scripts/start-containerd.sh\` (or \`containerd --root /var/lib/containerd --state /run/containerd --address ${socket} &\`)` +
  `; set ${SOCKET_ENV} if it listens elsewhere.`

const notRunning = (socket: string, why: string) => new HostUnsupported({ runner: RUNNER, missing: `containerd is not running: ${why}`, fix: startHint(socket) })

/** The swap limit is written only where the kernel offers it (v1 memsw needs swap accounting). */
const swapLimit = (layout: CgroupLayout): boolean =>
  layout.kind === "v2" ? true : fs.existsSync(path.join(layout.memory, "memory.memsw.limit_in_bytes"))

export const probeHost = (client: ContainerdClient): Effect.Effect<ContainerdHost, HostUnsupported> =>
  Effect.gen(function* () {
    if (process.geteuid?.() !== 0) {
      return yield* Effect.fail(
        new HostUnsupported({ runner: RUNNER, missing: "the daemon is not running as root", fix: "Run `hydravisor serve` as root: it creates FIFOs and workspaces for containers that run as other users." })
      )
    }
    yield* findExecutable("runc", "Install it: `apt-get install -y runc`.")
    yield* findExecutable("containerd-shim-runc-v2", "Install containerd 1.6 or newer: `apt-get install -y containerd`.")
    const mkfifo = yield* findExecutable("mkfifo", "Install coreutils.")
    const stat = fs.statSync(client.socket, { throwIfNoEntry: false })
    if (stat === undefined) return yield* Effect.fail(notRunning(client.socket, `no socket at ${client.socket}`))
    if (!stat.isSocket()) return yield* Effect.fail(notRunning(client.socket, `${client.socket} is not a socket`))
    const answer = yield* client.call("Version.Version", {}, 5_000).pipe(
      Effect.mapError((error) =>
        isUnreachable(error)
          ? notRunning(client.socket, `nothing answers on ${client.socket} (${error.details})`)
          : new HostUnsupported({ runner: RUNNER, missing: `containerd on ${client.socket} refused the version call: ${error.details}`, fix: "Check containerd's log." })
      )
    )
    const version = Either.getOrElse(Schema.decodeUnknownEither(VersionResponse)(answer), () => ({ version: "unknown", revision: "" })).version
    const layout = yield* detectLayout(RUNNER)
    return { layout, facts: { swapLimit: swapLimit(layout), arch: process.arch }, version, mkfifo }
  })
