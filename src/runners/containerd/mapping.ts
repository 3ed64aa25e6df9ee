// Pure translation between Hydravisor's sandbox model and containerd: the OCI runtime spec a sandbox
// runs under (and reading one back), the OCI process of an exec (and back), the gRPC request messages,
// and what containerd answers (task status, wait status, task events) in our terms. No I/O here.
import { Either, Schema } from "effect"
import { constants as osConstants } from "node:os"
import * as path from "node:path"
import { execEnvironment, networkEnv, resolveCwd, WORKSPACE } from "../bwrap/mapping.js"
import type { EtcPaths, SandboxUser } from "../bwrap/mapping.js"
import { InvalidExecRequest, InvalidSandboxSpec } from "../errors.js"
import { SandboxNetwork } from "../runner.js"
import type { ExecRequest, SandboxResources, SandboxSpec, SandboxState } from "../runner.js"
import { seccompProfile } from "./seccomp.js"
import type { SeccompProfile } from "./seccomp.js"

export const RUNNER = "containerd"
export const NAMESPACE_HEADER = "containerd-namespace"
export const RUNTIME = "io.containerd.runc.v2"
export const SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"
export const PROCESS_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Process"
export const SANDBOX_LABEL = "io.hydravisor.sandbox"
/** OCI annotation naming the sandbox's network mode (allowlist and open specs are otherwise alike). */
export const NETWORK_ANNOTATION = "io.hydravisor.network"
/** Run inside the image: coreutils' env changes directory, so a missing cwd is exit 125 like bwrap's. */
export const EXEC_WRAPPER = "/usr/bin/env"
/** The container's pid 1 keeps reaping: orphans of execs are re-parented to it. */
export const INIT_SCRIPT = 'trap "exit 0" TERM; while :; do sleep 3600 & wait; done'
export const OCI_VERSION = "1.0.2"
export const RLIMIT_NOFILE = 4096
/** What an image must contain for the runner to use it. */
export const IMAGE_REQUIREMENTS = ["bin/sh", "usr/bin/env", "usr/bin/sleep", "etc/passwd", "etc/group", "etc/hosts", "workspace"] as const

/** With egress the sandbox's resolv.conf is bound over the image's, and a read-only root cannot gain a mount point. */
export const imageRequirements = (network: SandboxNetwork): ReadonlyArray<string> =>
  network === "none" ? IMAGE_REQUIREMENTS : [...IMAGE_REQUIREMENTS, "etc/resolv.conf"]

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

const processBase = (user: SandboxUser, args: ReadonlyArray<string>, env: Readonly<Record<string, string>>): OciProcess => ({
  terminal: false,
  user: ociUser(user),
  args,
  env: envList(env),
  cwd: "/",
  capabilities: noCapabilities,
  rlimits: [{ type: "RLIMIT_NOFILE", hard: RLIMIT_NOFILE, soft: RLIMIT_NOFILE }],
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
    process: processBase(user, ["/bin/sh", "-c", INIT_SCRIPT], execEnvironment(sandboxEnv(spec), undefined)),
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
  return Either.right({
    hostname: oci.hostname,
    workspaceDir,
    user: { uid: oci.process.user.uid, gid: oci.process.user.gid },
    resources: { cpuCores: resources.cpu.quota / resources.cpu.period, memoryMb: resources.memory.limit / MB, pids: resources.pids.limit },
    network: network.right,
    env: envRecord(oci.process.env),
    cgroupsPath: oci.linux.cgroupsPath,
    etc: resolvConf === undefined ? { passwd, group, hosts } : { passwd, group, hosts, resolvConf },
    hardened
  })
}

// ---------------------------------------------------------------------------------------------------
// checks

const HOSTNAME = /^(?=.{1,64}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i
/** containerd's identifier rule (ours is narrower: [a-z0-9-]), which forbids a leading '-'. */
const CONTAINER_ID = /^[A-Za-z0-9]/

const within = (parent: string, child: string): boolean => {
  const rel = path.relative(parent, child)
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel))
}

const envProblem = (key: string, value: string): string | null => {
  if (key === "" || key.includes("=") || key.includes("\0")) return "a variable name must be non-empty, without '=' or NUL"
  if (value.includes("\0")) return "a value must not contain NUL"
  return null
}

/** Checks what the Schema cannot: ids, paths, hostname, an image rootfs. Every network mode keeps a namespace with only lo. */
export const checkSpec = (spec: SandboxSpec): Either.Either<SandboxSpec, InvalidSandboxSpec> => {
  const invalid = (field: string, reason: string) => Either.left(new InvalidSandboxSpec({ field, reason }))
  if (!CONTAINER_ID.test(spec.id)) return invalid("id", "must start with a letter or digit for containerd")
  if (!HOSTNAME.test(spec.hostname)) return invalid("hostname", `"${spec.hostname}" is not a valid host name`)
  for (const field of ["workspaceDir", "stateDir"] as const) {
    if (!path.isAbsolute(spec[field])) return invalid(field, `must be an absolute path, got "${spec[field]}"`)
    if (path.resolve(spec[field]) === "/") return invalid(field, "must not be /")
  }
  if (within(spec.workspaceDir, spec.stateDir) || within(spec.stateDir, spec.workspaceDir)) {
    return invalid("stateDir", "must not contain, or lie inside, the workspace (it would become visible inside)")
  }
  if (spec.rootfs.kind !== "image") {
    return invalid("rootfs", "the containerd runner needs an image rootfs (build one with `hydravisor image build`); \"host\" is bwrap-only")
  }
  if (!path.isAbsolute(spec.rootfs.path)) return invalid("rootfs.path", `must be an absolute path, got "${spec.rootfs.path}"`)
  for (const [key, value] of Object.entries(spec.env)) {
    const problem = envProblem(key, value)
    if (problem !== null) return invalid(`env.${key}`, problem)
  }
  return Either.right(spec)
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
  request: ExecRequest
): Either.Either<OciProcess, InvalidExecRequest> => {
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
  return Either.right(processBase(user, [EXEC_WRAPPER, "-C", resolveCwd(request.cwd), "--", ...request.argv], env))
}

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

const SIGNAL_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(osConstants.signals).map(([name, number]) => [number, name] as const)
)
const SIGNAL_NUMBERS: ReadonlyMap<string, number> = new Map(Object.entries(osConstants.signals))

/**
 * containerd reports 128 + n for a process killed by signal n (the shim reaps it and folds the two),
 * so an exit status in 129..192 naming a known signal is read as that signal. `exit 137` is
 * indistinguishable from SIGKILL; docs/containerd.md says so.
 */
export const exitOutcome = (status: number): { readonly exitCode: number | null; readonly signal: string | null } => {
  const signal = status > 128 && status <= 128 + 64 ? SIGNAL_NAMES.get(status - 128) : undefined
  return signal === undefined ? { exitCode: status, signal: null } : { exitCode: null, signal }
}

export const waitStatusOf = (outcome: { readonly exitCode: number | null; readonly signal: string | null }): number =>
  outcome.signal === null ? (outcome.exitCode ?? 0) : 128 + (SIGNAL_NUMBERS.get(outcome.signal) ?? 0)

// ---------------------------------------------------------------------------------------------------
// containerd messages: requests we send

export interface AnyMessage {
  readonly type_url: string
  readonly value: Uint8Array
}

export interface MountMessage {
  readonly type: string
  readonly source: string
  readonly target: string
  readonly options: ReadonlyArray<string>
}

export interface ContainerMessage {
  readonly id: string
  readonly labels: Readonly<Record<string, string>>
  readonly runtime: { readonly name: string }
  readonly spec: AnyMessage
}

export interface TaskCreateMessage {
  readonly container_id: string
  readonly rootfs: ReadonlyArray<MountMessage>
  readonly stdin: string
  readonly stdout: string
  readonly stderr: string
  readonly terminal: boolean
}

export interface ExecStdio {
  /** FIFO paths; "" for /dev/null. */
  readonly stdin: string
  readonly stdout: string
  readonly stderr: string
}

export interface ExecProcessMessage extends ExecStdio {
  readonly container_id: string
  readonly exec_id: string
  readonly terminal: boolean
  readonly spec: AnyMessage
}

const jsonAny = (typeUrl: string, value: unknown): AnyMessage => ({ type_url: typeUrl, value: Buffer.from(JSON.stringify(value), "utf8") })

export const containerMessage = (id: string, spec: OciSpec): ContainerMessage => ({
  id,
  labels: { [SANDBOX_LABEL]: id },
  runtime: { name: RUNTIME },
  spec: jsonAny(SPEC_TYPE_URL, spec)
})

/** The image directory, bound read-only where the spec's root (`rootfs`, relative to the bundle) is. */
export const taskCreateMessage = (id: string, imageRootfs: string): TaskCreateMessage => ({
  container_id: id,
  rootfs: [{ type: "bind", source: imageRootfs, target: "", options: ["rbind", "ro"] }],
  stdin: "",
  stdout: "",
  stderr: "",
  terminal: false
})

export const execProcessMessage = (containerId: string, execId: string, stdio: ExecStdio, process: OciProcess): ExecProcessMessage => ({
  container_id: containerId,
  exec_id: execId,
  ...stdio,
  terminal: false,
  spec: jsonAny(PROCESS_TYPE_URL, process)
})

/** Server-side filters: this namespace's task exits and OOM kills, nothing else. */
export const subscribeFilters = (namespace: string): ReadonlyArray<string> =>
  ["/tasks/exit", "/tasks/oom"].map((topic) => `namespace==${namespace},topic=="${topic}"`)

// ---------------------------------------------------------------------------------------------------
// containerd messages: answers we read (decoded at the boundary)

const decodeJsonAny = <A>(typeUrl: string, any: { readonly type_url: string; readonly value: Uint8Array }): Either.Either<A, string> => {
  if (any.type_url !== typeUrl) return Either.left(`expected ${typeUrl}, got ${any.type_url}`)
  try {
    return Either.right(JSON.parse(Buffer.from(any.value).toString("utf8")) as A)
  } catch (cause) {
    return Either.left(`unparsable ${typeUrl}: ${String(cause)}`)
  }
}

export const specOfContainer = (container: ContainerMessage): Either.Either<OciSpec, string> => decodeJsonAny<OciSpec>(SPEC_TYPE_URL, container.spec)

export const processOfExec = (message: ExecProcessMessage): Either.Either<OciProcess, string> => decodeJsonAny<OciProcess>(PROCESS_TYPE_URL, message.spec)

const Pid = Schema.Number.pipe(Schema.int(), Schema.nonNegative())

export const TaskStatus = Schema.Literal("UNKNOWN", "CREATED", "RUNNING", "STOPPED", "PAUSED", "PAUSING")
export type TaskStatus = Schema.Schema.Type<typeof TaskStatus>

export const StartResponse = Schema.Struct({ pid: Pid })
export const GetTaskResponse = Schema.Struct({
  process: Schema.Struct({ id: Schema.String, pid: Pid, status: TaskStatus, exit_status: Pid })
})
export const WaitResponse = Schema.Struct({ exit_status: Pid })
export const VersionResponse = Schema.Struct({ version: Schema.String, revision: Schema.String })

const TaskEventAny = Schema.Struct({
  type_url: Schema.String,
  value: Schema.NullOr(Schema.Struct({ container_id: Schema.String, id: Schema.String, pid: Pid, exit_status: Pid }))
})
export const Envelope = Schema.Struct({ namespace: Schema.String, topic: Schema.String, event: Schema.NullOr(TaskEventAny) })

export type TaskEvent =
  | { readonly kind: "exit"; readonly containerId: string; readonly processId: string; readonly pid: number; readonly exitStatus: number }
  | { readonly kind: "oom"; readonly containerId: string }

/** An envelope from the task event stream in our terms; null for topics we did not subscribe to. */
export const taskEventOf = (envelope: Schema.Schema.Type<typeof Envelope>): TaskEvent | null => {
  const value = envelope.event?.value
  if (value === null || value === undefined) return null
  switch (envelope.topic) {
    case "/tasks/exit":
      return { kind: "exit", containerId: value.container_id, processId: value.id, pid: value.pid, exitStatus: value.exit_status }
    case "/tasks/oom":
      return { kind: "oom", containerId: value.container_id }
    default:
      return null
  }
}

/** A task's status as a sandbox state: a task we did not stop that is no longer running is `gone`. */
export const sandboxStateOf = (task: TaskStatus | null): SandboxState => {
  switch (task) {
    case null:
    case "CREATED":
      return "stopped"
    case "RUNNING":
      return "running"
    case "PAUSED":
    case "PAUSING":
      return "paused"
    case "STOPPED":
    case "UNKNOWN":
      return "gone"
  }
}
