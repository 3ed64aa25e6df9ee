// `hydravisor doctor`: what each runner and monitor needs from this host, whether it is there, and
// the exact command that fixes it when it is not.
import { spawnSync } from "node:child_process"
import { accessSync, constants, existsSync, readFileSync } from "node:fs"
import { dirname } from "node:path"
import { Effect, Either } from "effect"
import { probeHost } from "../../runners/bwrap/host.js"
import { probeRuntime, runtimeSetting } from "../../runners/containerd/host.js"
import { RUNTIME_ENV } from "../../runners/containerd/oci-runtime.js"

export interface Check {
  readonly name: string
  readonly needed: string
  readonly ok: boolean
  readonly detail: string
  readonly fix: string | null
  /** the default runner cannot work without it */
  readonly required: boolean
}

const which = (name: string): string | null => {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" })
  return r.status === 0 ? r.stdout.trim() : null
}

const version = (cmd: string, args: ReadonlyArray<string>) => {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 5000 })
  return `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n")[0] ?? ""
}

const tool = (name: string, needed: string, pkg: string, required: boolean, versionArgs: ReadonlyArray<string> = ["--version"]): Check => {
  const path = which(name)
  return path
    ? { name, needed, ok: true, detail: `${path} (${version(path, versionArgs)})`, fix: null, required }
    : { name, needed, ok: false, detail: "not installed", fix: `apt-get install -y ${pkg}`, required }
}

const userNamespaces = (): Check => {
  const r = spawnSync("bwrap", ["--unshare-user", "--unshare-pid", "--ro-bind", "/", "/", "--proc", "/proc", "true"], { encoding: "utf8", timeout: 10_000 })
  const maxUserNs = existsSync("/proc/sys/user/max_user_namespaces") ? readFileSync("/proc/sys/user/max_user_namespaces", "utf8").trim() : "?"
  return r.status === 0
    ? { name: "user namespaces", needed: "bwrap sandboxes", ok: true, detail: `bwrap can create user and pid namespaces (max_user_namespaces ${maxUserNs})`, fix: null, required: true }
    : { name: "user namespaces", needed: "bwrap sandboxes", ok: false, detail: (r.stderr || r.error?.message || "bwrap failed").trim().split("\n")[0] ?? "", fix: "sysctl -w user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1", required: true }
}

/** The OCI runtime the containerd runner will give new tasks, and why; `runtime: null` when none can run. */
export interface ContainerdRuntimeReport {
  readonly setting: string
  readonly runtime: "crun" | "runc" | null
  readonly binary: string | null
  readonly reason: string
  readonly fix: string | null
}

export const containerdRuntime: Effect.Effect<ContainerdRuntimeReport> = Effect.gen(function* () {
  const setting = Either.getOrElse(runtimeSetting(undefined), () => process.env[RUNTIME_ENV] ?? "auto")
  const chosen = yield* Effect.either(probeRuntime(undefined))
  return Either.isRight(chosen)
    ? { setting, runtime: chosen.right.name, binary: chosen.right.binary, reason: chosen.right.reason, fix: null }
    : { setting, runtime: null, binary: null, reason: chosen.left.missing, fix: chosen.left.fix }
})

const runtimeCheck = (report: ContainerdRuntimeReport): Check => ({
  name: "containerd runtime",
  needed: "containerd containers",
  ok: report.runtime !== null,
  detail: report.runtime === null ? report.reason : `${report.runtime} (${report.binary}): ${report.reason}`,
  fix: report.fix,
  required: false
})

export const runDoctor: Effect.Effect<ReadonlyArray<Check>> = Effect.gen(function* () {
  const checks: Array<Check> = []
  const root = process.geteuid?.() === 0
  checks.push({ name: "root", needed: "the daemon (cgroups, namespaces)", ok: root, detail: root ? "running as root" : `running as uid ${process.geteuid?.()}`, fix: root ? null : "run `sudo hydravisor serve` (or the CLI as root)", required: true })
  checks.push(tool("bwrap", "bwrap sandboxes", "bubblewrap", true))
  checks.push(tool("nsenter", "exec in bwrap sandboxes", "util-linux", true, ["-V"]))
  checks.push(tool("setpriv", "dropping privileges on exec", "util-linux", true, ["-V"]))
  if (which("bwrap")) checks.push(userNamespaces())
  const host = yield* Effect.either(probeHost("hydravisor"))
  checks.push(
    host._tag === "Right"
      ? { name: "cgroups", needed: "limits, freeze and kill per sandbox", ok: true, detail: `layout: ${host.right.layout.kind}`, fix: null, required: true }
      : { name: "cgroups", needed: "limits, freeze and kill per sandbox", ok: false, detail: host.left.missing, fix: host.left.fix, required: true }
  )
  const kvm = existsSync("/dev/kvm")
  let kvmUsable = false
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK)
    kvmUsable = true
  } catch {
    kvmUsable = false
  }
  checks.push({ name: "kvm", needed: "qemu micro-VMs (hardware acceleration)", ok: kvm && kvmUsable, detail: kvm ? (kvmUsable ? "/dev/kvm is usable" : "/dev/kvm is not accessible") : "no /dev/kvm (VMs fall back to software emulation)", fix: kvm ? "add your user to the kvm group" : "enable virtualisation in the firmware, or load kvm_intel / kvm_amd", required: false })
  checks.push(tool("qemu-system-x86_64", "qemu micro-VMs", "qemu-system-x86", false))
  const containerdSocket = process.env["HYDRAVISOR_CONTAINERD_SOCKET"] ?? "/run/containerd/containerd.sock"
  const ctr = tool("containerd", "containerd containers", "containerd", false)
  checks.push(ctr)
  checks.push({ name: "containerd socket", needed: "containerd containers", ok: existsSync(containerdSocket), detail: existsSync(containerdSocket) ? `${containerdSocket} is present` : `${containerdSocket} is absent (containerd not running)`, fix: existsSync(containerdSocket) ? null : "scripts/start-containerd.sh   (or: containerd --root /var/lib/containerd --state /run/containerd &)", required: false })
  checks.push(tool("crun", "containerd containers (faster exec than runc)", "crun", false))
  checks.push(tool("runc", "containerd containers (where crun cannot run)", "runc", false))
  checks.push(runtimeCheck(yield* containerdRuntime))
  checks.push(tool("debootstrap", "building images (hydravisor image build)", "debootstrap", false))
  const tracefs = existsSync("/sys/kernel/tracing/trace_pipe")
  checks.push({ name: "tracefs", needed: "the process monitor (bpftrace)", ok: tracefs, detail: tracefs ? "/sys/kernel/tracing is mounted" : "tracefs is not mounted", fix: tracefs ? null : "mount -t tracefs nodev /sys/kernel/tracing", required: false })
  checks.push(tool("bpftrace", "the process monitor", "bpftrace", false))
  checks.push(tool("tmux", "terminal sessions", "tmux", false, ["-V"]))
  return checks
})

/** The data dir exists and is writable, or can be created. */
export const dataDirCheck = (dataDir: string): Check => {
  let target = dataDir
  while (!existsSync(target) && dirname(target) !== target) target = dirname(target)
  try {
    accessSync(target, constants.W_OK | constants.X_OK)
    return { name: "data dir", needed: "the ledger, keys and workspaces", ok: true, detail: existsSync(dataDir) ? `${dataDir} is writable` : `${dataDir} will be created`, fix: null, required: true }
  } catch {
    return { name: "data dir", needed: "the ledger, keys and workspaces", ok: false, detail: `${target} is not writable`, fix: `pass --data-dir DIR or set HYDRAVISOR_DATA_DIR to a writable place`, required: true }
  }
}
