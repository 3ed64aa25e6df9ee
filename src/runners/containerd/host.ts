// What the containerd runner needs from the host: root, a containerd answering on its socket, the runc
// shim with an OCI runtime it can drive (crun or runc, oci-runtime.ts), mkfifo, and a cgroup layout to
// read the sandboxes' counters from. Each gap becomes a HostUnsupported that says how to close it.
import { Effect, Either, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { detectLayout } from "../cgroups/cgroup.js"
import type { CgroupLayout } from "../cgroups/layout.js"
import { HostUnsupported } from "../errors.js"
import { findInDirs } from "../executables.js"
import { isUnreachable } from "./client.js"
import type { ContainerdClient } from "./client.js"
import { RUNNER, VersionResponse } from "./mapping.js"
import type { HostFacts } from "./mapping.js"
import { chooseRuntime, RUNTIME_ENV, RuntimeSetting } from "./oci-runtime.js"
import type { OciRuntime, RuntimeFacts } from "./oci-runtime.js"

export const DEFAULT_SOCKET = "/run/containerd/containerd.sock"
export const SOCKET_ENV = "HYDRAVISOR_CONTAINERD_SOCKET"

export interface ContainerdHost {
  readonly layout: CgroupLayout
  readonly facts: HostFacts
  readonly version: string
  readonly mkfifo: string
  /** The OCI runtime binary every task created from now on runs under. */
  readonly runtime: OciRuntime
}

const HOST_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

const lookUp = (name: string): string | null => findInDirs(name, HOST_DIRS)

const findExecutable = (name: string, fix: string) =>
  Effect.suspend(() => {
    const file = lookUp(name)
    return file !== null
      ? Effect.succeed(file)
      : Effect.fail(new HostUnsupported({ runner: RUNNER, missing: `${name} is not installed (looked in ${HOST_DIRS.join(", ")})`, fix }))
  })

const controllersOf = (cgroup2: string): ReadonlyArray<string> => {
  try {
    return fs.readFileSync(path.join(cgroup2, "cgroup.controllers"), "utf8").trim().split(/\s+/).filter((c) => c !== "")
  } catch {
    return []
  }
}

/** What decides the OCI runtime: the binaries installed and, on a hybrid host, cgroup2's own controllers. */
export const runtimeFacts = (layout: CgroupLayout): RuntimeFacts => ({
  crun: lookUp("crun"),
  runc: lookUp("runc"),
  hybrid: layout.kind === "v2" ? null : { unified: layout.unified, controllers: controllersOf(layout.unified) }
})

/** The explicit setting, else `HYDRAVISOR_CONTAINERD_RUNTIME`, else auto. */
export const runtimeSetting = (explicit: RuntimeSetting | undefined): Either.Either<RuntimeSetting, HostUnsupported> =>
  explicit !== undefined
    ? Either.right(explicit)
    : Either.mapLeft(
        Schema.decodeUnknownEither(RuntimeSetting)(process.env[RUNTIME_ENV] ?? "auto"),
        () => new HostUnsupported({ runner: RUNNER, missing: `${RUNTIME_ENV} is ${JSON.stringify(process.env[RUNTIME_ENV])}`, fix: "Set it to auto, crun or runc (or unset it: auto)." })
      )

const selectRuntime = (explicit: RuntimeSetting | undefined, layout: CgroupLayout): Effect.Effect<OciRuntime, HostUnsupported> =>
  Effect.flatMap(runtimeSetting(explicit), (setting) =>
    Either.mapLeft(chooseRuntime(setting, runtimeFacts(layout)), (problem) => new HostUnsupported({ runner: RUNNER, ...problem }))
  )

/** The OCI runtime the runner will use on this host, or what stops it; containerd need not be running. */
export const probeRuntime = (explicit: RuntimeSetting | undefined): Effect.Effect<OciRuntime, HostUnsupported> =>
  Effect.flatMap(detectLayout(RUNNER), (layout) => selectRuntime(explicit, layout))

export const startHint = (socket: string): string =>
  `Start it with \`scripts/start-containerd.sh\` (or \`containerd --root /var/lib/containerd --state /run/containerd --address ${socket} &\`)` +
  `; set ${SOCKET_ENV} if it listens elsewhere.`

const notRunning = (socket: string, why: string) => new HostUnsupported({ runner: RUNNER, missing: `containerd is not running: ${why}`, fix: startHint(socket) })

/** The swap limit is written only where the kernel offers it (v1 memsw needs swap accounting). */
const swapLimit = (layout: CgroupLayout): boolean =>
  layout.kind === "v2" ? true : fs.existsSync(path.join(layout.memory, "memory.memsw.limit_in_bytes"))

export const probeHost = (client: ContainerdClient, setting: RuntimeSetting | undefined): Effect.Effect<ContainerdHost, HostUnsupported> =>
  Effect.gen(function* () {
    if (process.geteuid?.() !== 0) {
      return yield* Effect.fail(
        new HostUnsupported({ runner: RUNNER, missing: "the daemon is not running as root", fix: "Run `hydravisor serve` as root: it creates FIFOs and workspaces for containers that run as other users." })
      )
    }
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
    const runtime = yield* selectRuntime(setting, layout)
    return { layout, facts: { swapLimit: swapLimit(layout), arch: process.arch }, version, mkfifo, runtime }
  })
