// Pure translation between Hydravisor's sandbox model and the command lines that realise it: the
// bwrap invocation that creates a sandbox and the nsenter/setpriv/env chain that runs one command
// inside (the launcher that puts either into the sandbox's cgroups first is in launcher.ts).
import { Either } from "effect"
import * as path from "node:path"
import { InvalidExecRequest, InvalidSandboxSpec } from "../errors.js"
import type { ExecRequest, SandboxNetwork, SandboxSpec, SandboxState } from "../runner.js"

export const WORKSPACE = "/workspace"
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export const DEFAULT_MAX_OUTPUT_BYTES = 1024 * 1024
/** What the host-side launcher and tools run with: fixed, never the caller's environment. */
export const HOST_ENV: Readonly<Record<string, string>> = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" }

export type Namespace = "user" | "pid" | "ipc" | "uts" | "net" | "cgroup-try"

export type MountOp =
  | { readonly kind: "bind" | "ro-bind" | "ro-bind-try"; readonly source: string; readonly dest: string }
  | { readonly kind: "symlink"; readonly target: string; readonly dest: string }
  | { readonly kind: "proc" | "dev"; readonly dest: string }
  | { readonly kind: "tmpfs"; readonly dest: string; readonly perms: string | null }

/** One bwrap invocation as data; `renderBwrapArgs` and `parseBwrapArgs` are inverses. */
export interface BwrapPlan {
  readonly unshare: ReadonlyArray<Namespace>
  readonly dieWithParent: boolean
  readonly newSession: boolean
  readonly capDropAll: boolean
  readonly clearEnv: boolean
  readonly hostname: string
  readonly uid: number
  readonly gid: number
  readonly mounts: ReadonlyArray<MountOp>
  readonly chdir: string
  /** bwrap writes the sandbox's pid there. */
  readonly infoFd: number
  /** bwrap waits on it until we have written the sandbox's uid/gid maps. */
  readonly userNsBlockFd: number
  readonly command: ReadonlyArray<string>
}

export interface SandboxUser {
  readonly uid: number
  readonly gid: number
  readonly name: string
}

export type RootEntry =
  | { readonly name: string; readonly kind: "symlink"; readonly target: string }
  | { readonly name: string; readonly kind: "dir" }

/** The root filesystem as seen from the host: "/" or an image directory, and its top-level lib/bin entries. */
export interface RootView {
  readonly prefix: string
  readonly entries: ReadonlyArray<RootEntry>
  /** The host shares only what a shell needs; an image's /etc is its own. */
  readonly etc: "selected" | "whole"
}

/** Top-level entries mirrored from the root (symlinks into /usr on merged-/usr systems). */
export const ROOT_ENTRY_NAMES = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] as const

/** The few host /etc files a shell and the dynamic linker need. */
export const HOST_ETC_FILES = ["ld.so.cache", "ld.so.conf", "ld.so.conf.d", "nsswitch.conf", "alternatives", "localtime"] as const

export const INIT_SCRIPT = "exec 3>&- 4>&- 5>&-; echo ready; read _"
export const INFO_FD = 3
export const USERNS_BLOCK_FD = 4
/** bwrap reads its options from this fd, so host paths never show in the sandbox's /proc/1/cmdline. */
export const ARGS_FD = 5

export interface EtcPaths {
  readonly passwd: string
  readonly group: string
  readonly hosts: string
  /** Bound at /etc/resolv.conf when the sandbox has egress (the network monitor's DNS filter). */
  readonly resolvConf?: string
}

/** The network monitor's proxy and DNS filter listen on the sandbox's own loopback (src/adapters/monitors/network). */
export const PROXY_URL = "http://127.0.0.1:3128"
export const RESOLV_CONF = "nameserver 127.0.0.1\noptions attempts:1 timeout:2\n"

/** Variables that point programs at the egress proxy when the sandbox has egress; none in mode `none`. */
export const networkEnv = (mode: SandboxNetwork): Readonly<Record<string, string>> =>
  mode === "none"
    ? {}
    : {
        HTTP_PROXY: PROXY_URL, HTTPS_PROXY: PROXY_URL, ALL_PROXY: PROXY_URL,
        http_proxy: PROXY_URL, https_proxy: PROXY_URL, all_proxy: PROXY_URL,
        NO_PROXY: "localhost,127.0.0.1", no_proxy: "localhost,127.0.0.1"
      }

// ---------------------------------------------------------------------------------------------------
// spec → bwrap

const HOSTNAME = /^(?=.{1,64}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i

const within = (parent: string, child: string): boolean => {
  const rel = path.relative(parent, child)
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel))
}

/**
 * Checks what the Schema cannot: paths and hostname. Every network mode keeps a network namespace with
 * only lo. Shared by the runners; `imageOnly` is the refusal of a runner that needs an image rootfs.
 */
export const checkSpec = (spec: SandboxSpec, options: { readonly imageOnly?: string } = {}): Either.Either<SandboxSpec, InvalidSandboxSpec> => {
  const invalid = (field: string, reason: string) => Either.left(new InvalidSandboxSpec({ field, reason }))
  if (!HOSTNAME.test(spec.hostname)) return invalid("hostname", `"${spec.hostname}" is not a valid host name`)
  for (const field of ["workspaceDir", "stateDir"] as const) {
    if (!path.isAbsolute(spec[field])) return invalid(field, `must be an absolute path, got "${spec[field]}"`)
    if (path.resolve(spec[field]) === "/") return invalid(field, "must not be /")
  }
  if (within(spec.workspaceDir, spec.stateDir) || within(spec.stateDir, spec.workspaceDir)) {
    return invalid("stateDir", "must not contain, or lie inside, the workspace (it would become visible inside)")
  }
  if (options.imageOnly !== undefined && spec.rootfs.kind !== "image") return invalid("rootfs", options.imageOnly)
  if (spec.rootfs.kind === "image" && !path.isAbsolute(spec.rootfs.path)) {
    return invalid("rootfs.path", `must be an absolute path, got "${spec.rootfs.path}"`)
  }
  for (const [key, value] of Object.entries(spec.env)) {
    const problem = envProblem(key, value)
    if (problem !== null) return invalid(`env.${key}`, problem)
  }
  return Either.right(spec)
}

/** A per-sandbox host uid in [base, base + count), so two sandboxes rarely share one. */
export const sandboxUser = (id: string, base: number, count: number): SandboxUser => {
  let hash = 0x811c9dc5
  for (const byte of Buffer.from(id, "utf8")) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0
  const uid = base + (hash % count)
  return { uid, gid: uid, name: "agent" }
}

export const etcFiles = (hostname: string, user: SandboxUser): { readonly [K in keyof EtcPaths]: string } => ({
  passwd: [
    "root:x:0:0:root:/nonexistent:/usr/sbin/nologin",
    `${user.name}:x:${user.uid}:${user.gid}:${user.name}:${WORKSPACE}:/bin/sh`,
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin",
    ""
  ].join("\n"),
  group: ["root:x:0:", `${user.name}:x:${user.gid}:`, "nogroup:x:65534:", ""].join("\n"),
  hosts: ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", `127.0.1.1\t${hostname}`, ""].join("\n")
})

/**
 * The sandbox's user namespace maps root (bwrap needs it to mount devpts) and the sandbox user to
 * themselves, so that files the sandbox user creates on the sandbox's tmpfs mounts are representable.
 */
export const idMap = (user: SandboxUser): { readonly uidMap: string; readonly gidMap: string } => ({
  uidMap: `0 0 1\n${user.uid} ${user.uid} 1\n`,
  gidMap: `0 0 1\n${user.gid} ${user.gid} 1\n`
})

const rootMounts = (root: RootView): ReadonlyArray<MountOp> => {
  const from = (p: string) => path.join(root.prefix, p)
  const entries = root.entries.map((entry): MountOp =>
    entry.kind === "symlink"
      ? { kind: "symlink", target: entry.target, dest: `/${entry.name}` }
      : { kind: "ro-bind", source: from(entry.name), dest: `/${entry.name}` }
  )
  const etc: ReadonlyArray<MountOp> =
    root.etc === "whole"
      ? [{ kind: "ro-bind", source: from("etc"), dest: "/etc" }]
      : [
          // bwrap would create /etc as 0700, leaving passwd, hosts and resolv.conf unreadable to the sandbox user
          { kind: "tmpfs", dest: "/etc", perms: "0755" },
          ...HOST_ETC_FILES.map((name): MountOp => ({ kind: "ro-bind-try", source: from(`etc/${name}`), dest: `/etc/${name}` }))
        ]
  return [{ kind: "ro-bind", source: from("usr"), dest: "/usr" }, ...entries, ...etc]
}

/** The bwrap invocation for a sandbox whose pid 1 waits, ready for `exec` to enter it. */
export const sandboxPlan = (spec: SandboxSpec, user: SandboxUser, root: RootView, etc: EtcPaths): BwrapPlan => ({
  unshare: ["user", "pid", "ipc", "uts", "net", "cgroup-try"],
  dieWithParent: true,
  newSession: true,
  capDropAll: true,
  clearEnv: true,
  hostname: spec.hostname,
  uid: user.uid,
  gid: user.gid,
  mounts: [
    ...rootMounts(root),
    { kind: "ro-bind", source: etc.passwd, dest: "/etc/passwd" },
    { kind: "ro-bind", source: etc.group, dest: "/etc/group" },
    { kind: "ro-bind", source: etc.hosts, dest: "/etc/hosts" },
    ...(spec.network === "none" || etc.resolvConf === undefined ? [] : [{ kind: "ro-bind" as const, source: etc.resolvConf, dest: "/etc/resolv.conf" }]),
    { kind: "proc", dest: "/proc" },
    { kind: "dev", dest: "/dev" },
    { kind: "tmpfs", dest: "/dev/shm", perms: "1777" },
    { kind: "tmpfs", dest: "/tmp", perms: "1777" },
    { kind: "bind", source: spec.workspaceDir, dest: WORKSPACE }
  ],
  chdir: "/",
  infoFd: INFO_FD,
  userNsBlockFd: USERNS_BLOCK_FD,
  command: ["/bin/sh", "-c", INIT_SCRIPT]
})

/** Everything but the command: what goes through --args. */
export const renderBwrapOptions = (plan: BwrapPlan): ReadonlyArray<string> => [
  ...plan.unshare.map((ns) => `--unshare-${ns}`),
  ...(plan.dieWithParent ? ["--die-with-parent"] : []),
  ...(plan.newSession ? ["--new-session"] : []),
  ...(plan.capDropAll ? ["--cap-drop", "ALL"] : []),
  ...(plan.clearEnv ? ["--clearenv"] : []),
  "--hostname", plan.hostname,
  "--uid", String(plan.uid),
  "--gid", String(plan.gid),
  ...plan.mounts.flatMap((m): ReadonlyArray<string> => {
    switch (m.kind) {
      case "bind":
      case "ro-bind":
      case "ro-bind-try":
        return [`--${m.kind}`, m.source, m.dest]
      case "symlink":
        return ["--symlink", m.target, m.dest]
      case "proc":
      case "dev":
        return [`--${m.kind}`, m.dest]
      case "tmpfs":
        return [...(m.perms === null ? [] : ["--perms", m.perms]), "--tmpfs", m.dest]
    }
  }),
  "--chdir", plan.chdir,
  "--info-fd", String(plan.infoFd),
  "--userns-block-fd", String(plan.userNsBlockFd)
]

export const renderBwrapArgs = (plan: BwrapPlan): ReadonlyArray<string> => [...renderBwrapOptions(plan), "--", ...plan.command]

/** bwrap's own argv when the options travel through ARGS_FD, and the bytes to write there. */
export const bwrapInvocation = (plan: BwrapPlan): { readonly argv: ReadonlyArray<string>; readonly argsData: string } => ({
  argv: ["--args", String(ARGS_FD), "--", ...plan.command],
  argsData: renderBwrapOptions(plan).map((arg) => `${arg}\0`).join("")
})

/** Reads back what `renderBwrapArgs` writes; anything else is rejected with the offending argument. */
export const parseBwrapArgs = (argv: ReadonlyArray<string>): Either.Either<BwrapPlan, string> => {
  const plan = {
    unshare: [] as Array<Namespace>,
    dieWithParent: false,
    newSession: false,
    capDropAll: false,
    clearEnv: false,
    hostname: "",
    uid: -1,
    gid: -1,
    mounts: [] as Array<MountOp>,
    chdir: "",
    infoFd: -1,
    userNsBlockFd: -1,
    command: [] as Array<string>
  }
  let perms: string | null = null
  let i = 0
  const next = (): string | undefined => argv[++i]
  for (; i < argv.length; i++) {
    const arg = argv[i] ?? ""
    const unshare = /^--unshare-(user|pid|ipc|uts|net|cgroup-try)$/.exec(arg)
    if (unshare?.[1] !== undefined) {
      plan.unshare.push(unshare[1] as Namespace)
      continue
    }
    const take = (): string | null => next() ?? null
    switch (arg) {
      case "--die-with-parent": plan.dieWithParent = true; continue
      case "--new-session": plan.newSession = true; continue
      case "--clearenv": plan.clearEnv = true; continue
      case "--cap-drop": {
        if (take() !== "ALL") return Either.left("--cap-drop takes ALL only")
        plan.capDropAll = true
        continue
      }
      case "--hostname": case "--chdir": case "--uid": case "--gid": case "--info-fd": case "--userns-block-fd": {
        const value = take()
        if (value === null) return Either.left(`${arg} lacks its value`)
        if (arg === "--hostname") plan.hostname = value
        else if (arg === "--chdir") plan.chdir = value
        else {
          const n = Number(value)
          if (!Number.isInteger(n)) return Either.left(`${arg} takes an integer, got ${value}`)
          if (arg === "--uid") plan.uid = n
          else if (arg === "--gid") plan.gid = n
          else if (arg === "--info-fd") plan.infoFd = n
          else plan.userNsBlockFd = n
        }
        continue
      }
      case "--bind": case "--ro-bind": case "--ro-bind-try": case "--symlink": {
        const a = take()
        const b = take()
        if (a === null || b === null) return Either.left(`${arg} needs two values`)
        plan.mounts.push(arg === "--symlink" ? { kind: "symlink", target: a, dest: b } : { kind: arg.slice(2) as "bind", source: a, dest: b })
        continue
      }
      case "--proc": case "--dev": case "--tmpfs": case "--perms": {
        const dest = take()
        if (dest === null) return Either.left(`${arg} lacks its value`)
        if (arg === "--perms") perms = dest
        else if (arg === "--tmpfs") {
          plan.mounts.push({ kind: "tmpfs", dest, perms })
          perms = null
        } else plan.mounts.push({ kind: arg.slice(2) as "proc", dest })
        continue
      }
      case "--":
        plan.command = argv.slice(i + 1) as Array<string>
        return Either.right(plan)
      default:
        return Either.left(`unexpected argument ${JSON.stringify(arg)}`)
    }
  }
  return Either.left("missing -- before the command")
}

/** Reads the sandbox's host pid from bwrap's --info-fd JSON. */
export const parseInfo = (text: string): { readonly childPid: number; readonly cgroupNamespace: boolean } | null => {
  try {
    const info: unknown = JSON.parse(text)
    if (typeof info !== "object" || info === null) return null
    const pid = (info as Record<string, unknown>)["child-pid"]
    return typeof pid === "number" && Number.isInteger(pid) && pid > 0
      ? { childPid: pid, cgroupNamespace: "cgroup-namespace" in info }
      : null
  } catch {
    return null
  }
}


// ---------------------------------------------------------------------------------------------------
// exec: enter the namespaces as root, drop to the sandbox user, set env and cwd, run argv

export interface ExecTarget {
  /** Host pid of the sandbox's pid 1. */
  readonly pid: number
  readonly cgroupNamespace: boolean
}

export interface ExecTools {
  readonly nsenter: string
  /** setpriv and env run after entering the sandbox's mount namespace: paths inside its root. */
  readonly setpriv: string
  readonly env: string
}

export function envProblem(key: string, value: string): string | null {
  if (key === "" || key.includes("=") || key.includes("\0")) return "a variable name must be non-empty, without '=' or NUL"
  if (value.includes("\0")) return "a value must not contain NUL"
  return null
}

export const resolveCwd = (cwd: string | undefined): string =>
  cwd === undefined ? WORKSPACE : path.posix.isAbsolute(cwd) ? path.posix.normalize(cwd) : path.posix.join(WORKSPACE, cwd)

export const execEnvironment = (
  specEnv: Readonly<Record<string, string>>,
  requestEnv: Readonly<Record<string, string>> | undefined
): Readonly<Record<string, string>> => ({ PATH: DEFAULT_PATH, HOME: WORKSPACE, ...specEnv, ...requestEnv })

/**
 * The checks every runner makes of an exec request before running anything (one place for both
 * runners): a program name, no NUL in argv or cwd, valid variables; the environment it runs with.
 */
export const checkedExecEnvironment = (
  specEnv: Readonly<Record<string, string>>,
  request: ExecRequest
): Either.Either<Readonly<Record<string, string>>, InvalidExecRequest> => {
  const invalid = (field: string, reason: string) => Either.left(new InvalidExecRequest({ field, reason }))
  const [program] = request.argv
  if (program === undefined || program === "") return invalid("argv", "must name a program")
  if (program.includes("=")) return invalid("argv[0]", "a program name must not contain '='")
  if (request.argv.some((arg) => arg.includes("\0"))) return invalid("argv", "arguments must not contain NUL")
  if (request.cwd !== undefined && (request.cwd === "" || request.cwd.includes("\0"))) return invalid("cwd", "must be a non-empty path without NUL")
  const env = execEnvironment(specEnv, request.env)
  for (const [key, value] of Object.entries(env)) {
    const problem = envProblem(key, value)
    if (problem !== null) return invalid(`env.${key}`, problem)
  }
  return Either.right(env)
}

/**
 * nsenter joins every namespace but the user namespace (the sandbox user stays an unprivileged host
 * uid, see README), setpriv drops uid, groups and every capability set and sets no_new_privs, env
 * replaces the environment and changes directory as the sandbox user.
 */
export const execCommand = (
  target: ExecTarget,
  user: SandboxUser,
  tools: ExecTools,
  specEnv: Readonly<Record<string, string>>,
  request: ExecRequest
): Either.Either<ReadonlyArray<string>, InvalidExecRequest> =>
  Either.map(checkedExecEnvironment(specEnv, request), (env) => [
    tools.nsenter, `--target=${target.pid}`, "--mount", "--uts", "--ipc", "--net", "--pid",
    ...(target.cgroupNamespace ? ["--cgroup"] : []),
    "--root", "--",
    tools.setpriv, `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups",
    "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
    tools.env, "-i", "-C", resolveCwd(request.cwd), "--",
    ...Object.entries(env).map(([key, value]) => `${key}=${value}`),
    ...request.argv
  ])

/** What the runner knows of a sandbox when asked for its status. */
export interface ObservedSandbox {
  /** Some process lives in the sandbox's cgroup tree. */
  readonly populated: boolean
  /** The kernel reports the whole tree frozen (cgroup.events). */
  readonly frozen: boolean
  /** The runner asked for it to be frozen (cgroup.freeze). */
  readonly freezeRequested: boolean
  /** The sandbox's first process is still in its cgroup. */
  readonly initAlive: boolean
  /** The state file's last word: created, started or stopped (null: none). */
  readonly lifecycle: "created" | "started" | "stopped" | null
}

/**
 * The state a status reports. Paused is what the runner asked for: the kernel's own `frozen` flag
 * falls back to 0 for a moment whenever a task forked just before the freeze joins the frozen tree.
 */
export const sandboxState = (o: ObservedSandbox): SandboxState =>
  o.populated && (o.frozen || o.freezeRequested)
    ? "paused"
    : o.initAlive
      ? "running"
      : !o.populated && (o.lifecycle === "created" || o.lifecycle === "stopped")
        ? "stopped"
        : "gone"
