// The OCI side of a sandbox, pure: the runtime spec it runs under (and reading one back) and the OCI
// process of an exec (and back). The runc shim hands both to the OCI runtime (crun or runc) as they are.
import { Either, Schema } from "effect"
import { checkedExecEnvironment, execEnvironment, networkEnv, resolveCwd, WORKSPACE } from "../bwrap/mapping.js"
import type { EtcPaths, SandboxUser } from "../bwrap/mapping.js"
import type { InvalidExecRequest } from "../errors.js"
import { SandboxNetwork } from "../runner.js"
import type { ExecRequest, SandboxResources, SandboxSpec } from "../runner.js"
import { seccompProfile } from "./seccomp.js"
import type { SeccompProfile } from "./seccomp.js"

/** OCI annotation naming the sandbox's network mode (allowlist and open specs are otherwise alike). */
export const NETWORK_ANNOTATION = "io.hydravisor.network"
/** Run inside the image: coreutils' env changes directory, so a missing cwd is exit 125 like bwrap's. */
export const EXEC_WRAPPER = "/usr/bin/env"
/** The container's pid 1 keeps reaping: orphans of execs are re-parented to it. */
export const INIT_SCRIPT = 'trap "exit 0" TERM; while :; do sleep 3600 & wait; done'
export const OCI_VERSION = "1.0.2"
export const RLIMIT_NOFILE = 4096

// ---------------------------------------------------------------------------------------------------
// OCI runtime spec, the subset we write

export interface OciUser {
  readonly uid: number
  readonly gid: number
  readonly additionalGids: ReadonlyArray<number>
}

export interface OciCapabilities {
  readonly bounding: ReadonlyArray<string>
  readonly effective: ReadonlyArray<string>
  readonly inheritable: ReadonlyArray<string>
  readonly permitted: ReadonlyArray<string>
  readonly ambient: ReadonlyArray<string>
}

export interface OciProcess {
  readonly terminal: boolean
  readonly user: OciUser
  readonly args: ReadonlyArray<string>
  readonly env: ReadonlyArray<string>
  readonly cwd: string
  readonly capabilities: OciCapabilities
  readonly rlimits: ReadonlyArray<{ readonly type: string; readonly hard: number; readonly soft: number }>
  readonly noNewPrivileges: boolean
}

export interface OciMount {
  readonly destination: string
  readonly type: string
  readonly source: string
  readonly options: ReadonlyArray<string>
}

export type OciNamespaceType = "pid" | "ipc" | "uts" | "mount" | "network" | "cgroup"

export interface OciSpec {
  readonly ociVersion: string
  readonly process: OciProcess
  readonly root: { readonly path: string; readonly readonly: boolean }
  readonly hostname: string
  readonly mounts: ReadonlyArray<OciMount>
  /** Always written; absent from specs made before it existed. */
  readonly annotations?: Readonly<Record<string, string>>
  readonly linux: {
    readonly namespaces: ReadonlyArray<{ readonly type: OciNamespaceType }>
    readonly cgroupsPath: string
    readonly resources: {
      readonly devices: ReadonlyArray<{ readonly allow: boolean; readonly access: string }>
      readonly memory: { readonly limit: number; readonly swap?: number }
      readonly pids: { readonly limit: number }
      readonly cpu: { readonly quota: number; readonly period: number }
    }
    readonly seccomp: SeccompProfile
    readonly maskedPaths: ReadonlyArray<string>
    readonly readonlyPaths: ReadonlyArray<string>
  }
}

/** What the host contributes to a spec. */
export interface HostFacts {
  /** The memory controller can limit swap (v1 memsw, v2 memory.swap.max): then swap is capped at 0. */
  readonly swapLimit: boolean
  /** Node's `process.arch`. */
  readonly arch: string
}

export const NAMESPACES: ReadonlyArray<OciNamespaceType> = ["pid", "ipc", "uts", "mount", "network", "cgroup"]
export const CPU_PERIOD_US = 100_000
const MB = 1024 * 1024

export const MASKED_PATHS = [
  "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
  "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"
] as const
export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"] as const

const noCapabilities: OciCapabilities = { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] }

const ociUser = (user: SandboxUser): OciUser => ({ uid: user.uid, gid: user.gid, additionalGids: [] })

const envList = (env: Readonly<Record<string, string>>): ReadonlyArray<string> => Object.entries(env).map(([key, value]) => `${key}=${value}`)

const envRecord = (list: ReadonlyArray<string>): Record<string, string> =>
  Object.fromEntries(list.map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]))

/** RLIMIT_NOFILE of a sandbox's processes: its `fileHandles`, else RLIMIT_NOFILE. */
const openFiles = (resources: SandboxSpec["resources"] | undefined): number => resources?.fileHandles ?? RLIMIT_NOFILE

const processBase = (user: SandboxUser, args: ReadonlyArray<string>, env: Readonly<Record<string, string>>, files: number): OciProcess => ({
  terminal: false,
  user: ociUser(user),
  args,
  env: envList(env),
  cwd: "/",
  capabilities: noCapabilities,
  rlimits: [{ type: "RLIMIT_NOFILE", hard: files, soft: files }],
  noNewPrivileges: true
})

export const cgroupsPath = (parent: string, id: string): string => `/${parent}/${id}`

/**
 * What every process of the sandbox starts with besides PATH and HOME: with egress, the variables that
 * point programs at the network monitor's proxy on the sandbox's own loopback; then the spec's env.
 */
export const sandboxEnv = (spec: SandboxSpec): Readonly<Record<string, string>> => ({ ...networkEnv(spec.network), ...spec.env })

const readOnlyBind = (destination: string, source: string): OciMount => ({
  destination,
  type: "bind",
  source,
  options: ["rbind", "ro", "nosuid", "nodev", "noexec"]
})

const sandboxMounts = (spec: SandboxSpec, etc: EtcPaths): ReadonlyArray<OciMount> => [
  { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
  { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
  { destination: "/dev/pts", type: "devpts", source: "devpts", options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
  { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
  { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
  { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
  { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
  readOnlyBind("/etc/passwd", etc.passwd),
  readOnlyBind("/etc/group", etc.group),
  readOnlyBind("/etc/hosts", etc.hosts),
  // the network monitor's DNS filter answers on the sandbox's 127.0.0.1:53
  ...(spec.network === "none" || etc.resolvConf === undefined ? [] : [readOnlyBind("/etc/resolv.conf", etc.resolvConf)]),
  { destination: WORKSPACE, type: "bind", source: spec.workspaceDir, options: ["rbind", "rw", "nosuid", "nodev"] }
]

export interface SpecInputs {
  readonly spec: SandboxSpec
  readonly user: SandboxUser
  readonly cgroupParent: string
  readonly etc: EtcPaths
  readonly host: HostFacts
}

/** The OCI runtime spec of a sandbox: its init process waits and reaps; `exec` adds the real work. */
export const ociSpec = ({ spec, user, cgroupParent, etc, host }: SpecInputs): OciSpec => {
  const memory = spec.resources.memoryMb * MB
  return {
    ociVersion: OCI_VERSION,
    process: processBase(user, ["/bin/sh", "-c", INIT_SCRIPT], execEnvironment(sandboxEnv(spec), undefined), openFiles(spec.resources)),
    // the image directory is mounted read-only at <bundle>/rootfs by the shim (see taskCreateRequest)
    root: { path: "rootfs", readonly: true },
    hostname: spec.hostname,
    mounts: sandboxMounts(spec, etc),
    annotations: { [NETWORK_ANNOTATION]: spec.network },
    linux: {
      // a new network namespace without a path, in every mode: runc brings up lo and nothing else (egress
      // goes through the network monitor's listeners, opened in this namespace from the host)
      namespaces: NAMESPACES.map((type) => ({ type })),
      cgroupsPath: cgroupsPath(cgroupParent, spec.id),
      resources: {
        devices: [{ allow: false, access: "rwm" }],
        memory: host.swapLimit ? { limit: memory, swap: memory } : { limit: memory },
        pids: { limit: spec.resources.pids },
        cpu: { quota: Math.max(1000, Math.round(spec.resources.cpuCores * CPU_PERIOD_US)), period: CPU_PERIOD_US }
      },
      seccomp: seccompProfile(host.arch),
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS
    }
  }
}

/** What a spec says about the sandbox, read back (for checks on a container found in containerd). */
export interface SandboxView {
  readonly hostname: string
  readonly workspaceDir: string
  readonly user: { readonly uid: number; readonly gid: number }
  readonly resources: SandboxResources
  readonly network: SandboxNetwork
  readonly env: Readonly<Record<string, string>>
  readonly cgroupsPath: string
  readonly etc: EtcPaths
  readonly hardened: boolean
}

export const readOciSpec = (oci: OciSpec): Either.Either<SandboxView, string> => {
  const bind = (destination: string) => oci.mounts.find((m) => m.destination === destination && m.type === "bind")?.source
  const workspaceDir = bind(WORKSPACE)
  const passwd = bind("/etc/passwd")
  const group = bind("/etc/group")
  const hosts = bind("/etc/hosts")
  const resolvConf = bind("/etc/resolv.conf")
  if (workspaceDir === undefined || passwd === undefined || group === undefined || hosts === undefined) {
    return Either.left("the spec lacks the workspace or /etc bind mounts")
  }
  // specs written before the annotation existed were all mode none
  const network = Schema.decodeUnknownEither(SandboxNetwork)(oci.annotations?.[NETWORK_ANNOTATION] ?? "none")
  if (Either.isLeft(network)) return Either.left(`unknown network mode annotation ${JSON.stringify(oci.annotations?.[NETWORK_ANNOTATION])}`)
  if ((network.right === "none") !== (resolvConf === undefined)) {
    return Either.left(`network mode ${network.right} ${resolvConf === undefined ? "without" : "with"} a resolv.conf bind mount`)
  }
  const types = oci.linux.namespaces.map((ns) => ns.type)
  if (!NAMESPACES.every((ns) => types.includes(ns))) return Either.left(`the spec shares namespaces with the host (has ${types.join(", ")})`)
  const caps = oci.process.capabilities
  const hardened =
    oci.root.readonly &&
    oci.process.noNewPrivileges &&
    [caps.bounding, caps.effective, caps.inheritable, caps.permitted, caps.ambient].every((set) => set.length === 0) &&
    oci.process.user.uid !== 0
  const { resources } = oci.linux
  // a limit equal to the default reads back as the default (no fileHandles)
  const files = oci.process.rlimits.find((r) => r.type === "RLIMIT_NOFILE")?.hard ?? RLIMIT_NOFILE
  return Either.right({
    hostname: oci.hostname,
    workspaceDir,
    user: { uid: oci.process.user.uid, gid: oci.process.user.gid },
    resources: {
      cpuCores: resources.cpu.quota / resources.cpu.period,
      memoryMb: resources.memory.limit / MB,
      pids: resources.pids.limit,
      ...(files !== RLIMIT_NOFILE ? { fileHandles: files } : {})
    },
    network: network.right,
    env: envRecord(oci.process.env),
    cgroupsPath: oci.linux.cgroupsPath,
    etc: resolvConf === undefined ? { passwd, group, hosts } : { passwd, group, hosts, resolvConf },
    hardened
  })
}

// ---------------------------------------------------------------------------------------------------
// exec

/**
 * The OCI process of one exec: the sandbox user with no capabilities and no_new_privs, the spec's env
 * under the request's, and `env -C <cwd> -- argv` so that the program is looked up on the sandbox's
 * PATH and a missing directory is an exit status, not a failed start.
 */
export const execProcess = (
  user: SandboxUser,
  specEnv: Readonly<Record<string, string>>,
  request: ExecRequest,
  resources?: SandboxSpec["resources"]
): Either.Either<OciProcess, InvalidExecRequest> =>
  Either.map(checkedExecEnvironment(specEnv, request), (env) =>
    processBase(user, [EXEC_WRAPPER, "-C", resolveCwd(request.cwd), "--", ...request.argv], env, openFiles(resources))
  )

/** Reads back what `execProcess` writes: the argv, the absolute cwd and the whole environment. */
export const readExecProcess = (
  process: OciProcess
): Either.Either<{ readonly argv: ReadonlyArray<string>; readonly cwd: string; readonly env: Readonly<Record<string, string>> }, string> => {
  const [wrapper, flag, cwd, separator, ...argv] = process.args
  if (wrapper !== EXEC_WRAPPER || flag !== "-C" || cwd === undefined || separator !== "--" || argv.length === 0) {
    return Either.left(`not an exec process: ${JSON.stringify(process.args.slice(0, 4))}`)
  }
  return Either.right({ argv, cwd, env: envRecord(process.env) })
}
