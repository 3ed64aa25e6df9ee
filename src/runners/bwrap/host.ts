// What the bwrap runner needs from the host, found once: root, bubblewrap, util-linux's nsenter and
// setpriv, coreutils' env, and a cgroup layout with cgroup.kill. Each gap becomes a HostUnsupported
// that says how to close it.
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { detectLayout, prepareParent } from "../cgroups/cgroup.js"
import type { CgroupLayout } from "../cgroups/layout.js"
import { HostUnsupported } from "../errors.js"
import { findInDirs } from "../executables.js"
import { ROOT_ENTRY_NAMES } from "./mapping.js"
import type { ExecTools, RootEntry, RootView } from "./mapping.js"

export interface BwrapHost {
  readonly layout: CgroupLayout
  readonly bwrap: string
  readonly tools: ExecTools
}

const RUNNER = "bwrap"
/** setpriv and env are run inside the sandbox's root, which shares the host's /usr only. */
const USR_DIRS = ["/usr/bin", "/usr/sbin", "/usr/local/bin"]
const HOST_DIRS = [...USR_DIRS, "/bin", "/sbin"]

const findExecutable = (name: string, dirs: ReadonlyArray<string>, fix: string) =>
  Effect.suspend(() => {
    const file = findInDirs(name, dirs)
    return file !== null ? Effect.succeed(file) : Effect.fail(new HostUnsupported({ runner: RUNNER, missing: `${name} is not installed (looked in ${dirs.join(", ")})`, fix }))
  })

export const probeHost = (cgroupParent: string): Effect.Effect<BwrapHost, HostUnsupported> =>
  Effect.gen(function* () {
    if (process.geteuid?.() !== 0) {
      return yield* Effect.fail(
        new HostUnsupported({
          runner: RUNNER,
          missing: "the daemon is not running as root",
          fix: "Run `hydravisor serve` as root: the bwrap runner creates cgroups and enters sandbox namespaces."
        })
      )
    }
    const bwrap = yield* findExecutable("bwrap", HOST_DIRS, "Install bubblewrap 0.8 or newer: `apt-get install bubblewrap`.")
    const utilLinux = "Install util-linux (nsenter, setpriv): `apt-get install util-linux`."
    const nsenter = yield* findExecutable("nsenter", HOST_DIRS, utilLinux)
    const setpriv = yield* findExecutable("setpriv", USR_DIRS, utilLinux)
    const env = yield* findExecutable("env", USR_DIRS, "Install coreutils 8.28 or newer.")
    const layout = yield* detectLayout(RUNNER)
    yield* prepareParent(layout, cgroupParent, RUNNER).pipe(
      Effect.catchTag("CgroupFailure", (failure) =>
        Effect.fail(new HostUnsupported({ runner: RUNNER, missing: failure.message, fix: "Check that the cgroup filesystems are mounted read-write." }))
      )
    )
    return { layout, bwrap, tools: { nsenter, setpriv, env } }
  })

/** The root filesystem's top-level bin/lib entries: symlinks are mirrored, directories bound. */
export const rootView = (rootfs: { readonly kind: "host" } | { readonly kind: "image"; readonly path: string }): RootView => {
  const prefix = rootfs.kind === "host" ? "/" : rootfs.path
  const entries = ROOT_ENTRY_NAMES.flatMap((name): ReadonlyArray<RootEntry> => {
    const file = path.join(prefix, name)
    try {
      const stat = fs.lstatSync(file)
      if (stat.isSymbolicLink()) return [{ name, kind: "symlink", target: fs.readlinkSync(file) }]
      return stat.isDirectory() ? [{ name, kind: "dir" }] : []
    } catch {
      return []
    }
  })
  return { prefix, entries, etc: rootfs.kind === "host" ? "selected" : "whole" }
}
