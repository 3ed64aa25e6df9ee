// The pure containerd mapping: sandbox spec → OCI runtime spec (and read back), exec request → OCI
// process (and back), containerd messages and answers, exit statuses, the seccomp profile.
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import { networkEnv, resolveCwd, sandboxUser } from "../../../src/runners/bwrap/mapping.js"
import {
  checkSpec,
  containerMessage,
  execProcess,
  execProcessMessage,
  exitOutcome,
  imageRequirements,
  INIT_SCRIPT,
  NAMESPACES,
  ociSpec,
  processOfExec,
  readExecProcess,
  RUNC_OPTIONS_TYPE_URL,
  readOciSpec,
  sandboxEnv,
  sandboxStateOf,
  SPEC_TYPE_URL,
  specOfContainer,
  subscribeFilters,
  taskCreateMessage,
  taskEventOf,
  waitStatusOf
} from "../../../src/runners/containerd/mapping.js"
import type { SpecInputs } from "../../../src/runners/containerd/mapping.js"
import { encodeRequest } from "../../../src/runners/containerd/client.js"
import type { OciRuntime } from "../../../src/runners/containerd/oci-runtime.js"
import { CLONE_NAMESPACE_FLAGS, DENIED_SYSCALLS, seccompProfile } from "../../../src/runners/containerd/seccomp.js"
import { sessionOfStat } from "../../../src/runners/containerd/session.js"
import type { ExecRequest, SandboxSpec } from "../../../src/runners/runner.js"
import * as arbitrary from "../arbitraries.js"
import { bytesOf, text, wireFields } from "./wire.js"

const spec: SandboxSpec = {
  id: "s1",
  hostname: "box",
  workspaceDir: "/data/workspaces/s1",
  stateDir: "/data/state/s1",
  rootfs: { kind: "image", path: "/data/images/abc/rootfs" },
  resources: { cpuCores: 1.5, memoryMb: 256, pids: 64 },
  network: "none",
  env: { LANG: "C.UTF-8" }
}
const user = sandboxUser("s1", 0x7000_0000, 0x1_0000)
const etc = {
  passwd: "/data/state/s1/etc/passwd",
  group: "/data/state/s1/etc/group",
  hosts: "/data/state/s1/etc/hosts",
  resolvConf: "/data/state/s1/etc/resolv.conf"
}
const inputs: SpecInputs = { spec, user, cgroupParent: "hydravisor-containerd", etc, host: { swapLimit: true, arch: "x64" } }

const specArbitrary: fc.Arbitrary<SandboxSpec> = fc.record({
  id: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,30}$/),
  hostname: fc.stringMatching(/^[a-z0-9]{1,20}$/),
  workspaceDir: fc.stringMatching(/^\/w\/[a-z0-9]{1,12}$/),
  stateDir: fc.stringMatching(/^\/s\/[a-z0-9]{1,12}$/),
  rootfs: fc.stringMatching(/^\/i\/[a-z0-9]{1,12}$/).map((p) => ({ kind: "image" as const, path: p })),
  resources: fc.record({
    cpuCores: fc.integer({ min: 1, max: 64 }).map((n) => n / 4),
    memoryMb: fc.integer({ min: 1, max: 65_536 }),
    pids: fc.integer({ min: 1, max: 100_000 }),
    // 4096 is the runner's default: a spec asking for exactly that reads back without the key
    fileHandles: fc.integer({ min: 16, max: 1_048_576 }).filter((n) => n !== 4096)
  }, { requiredKeys: ["cpuCores", "memoryMb", "pids"] }),
  network: fc.constantFrom("none" as const, "allowlist" as const, "open" as const),
  env: arbitrary.env
})

describe("ociSpec", () => {
  const oci = ociSpec(inputs)

  it("gives the sandbox every namespace of its own, a network namespace without a path (only lo)", () => {
    expect(oci.linux.namespaces.map((ns) => ns.type)).toEqual(["pid", "ipc", "uts", "mount", "network", "cgroup"])
    expect(oci.linux.namespaces.every((ns) => !("path" in ns))).toBe(true)
    expect(oci.hostname).toBe("box")
  })

  it("drops every capability, sets no_new_privs and runs a non-root user", () => {
    expect(oci.process.capabilities).toEqual({ bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] })
    expect(oci.process.noNewPrivileges).toBe(true)
    expect(oci.process.user).toEqual({ uid: user.uid, gid: user.gid, additionalGids: [] })
    expect(oci.process.user.uid).toBeGreaterThan(0)
    expect(oci.process.args).toEqual(["/bin/sh", "-c", INIT_SCRIPT])
    expect(oci.process.terminal).toBe(false)
  })

  it("mounts the root read-only and only the workspace read-write, never the state dir", () => {
    expect(oci.root).toEqual({ path: "rootfs", readonly: true })
    const binds = oci.mounts.filter((m) => m.type === "bind")
    const writable = binds.filter((m) => m.options.includes("rw"))
    expect(writable).toEqual([{ destination: "/workspace", type: "bind", source: spec.workspaceDir, options: ["rbind", "rw", "nosuid", "nodev"] }])
    for (const m of binds.filter((b) => b.destination.startsWith("/etc/"))) expect(m.options).toContain("ro")
    expect(oci.mounts.some((m) => m.source === spec.stateDir || m.destination === spec.stateDir)).toBe(false)
    expect(oci.mounts.find((m) => m.destination === "/sys")?.options).toContain("ro")
  })

  it("limits memory (no swap), pids and cpu in the sandbox's cgroup", () => {
    expect(oci.linux.cgroupsPath).toBe("/hydravisor-containerd/s1")
    expect(oci.linux.resources.memory).toEqual({ limit: 256 * 1024 * 1024, swap: 256 * 1024 * 1024 })
    expect(oci.linux.resources.pids).toEqual({ limit: 64 })
    expect(oci.linux.resources.cpu).toEqual({ quota: 150_000, period: 100_000 })
    expect(oci.linux.resources.devices).toEqual([{ allow: false, access: "rwm" }])
    expect(ociSpec({ ...inputs, host: { swapLimit: false, arch: "x64" } }).linux.resources.memory).toEqual({ limit: 256 * 1024 * 1024 })
  })

  it("applies the default seccomp profile and masks kernel files", () => {
    expect(oci.linux.seccomp).toEqual(seccompProfile("x64"))
    expect(oci.linux.maskedPaths).toContain("/proc/kcore")
    expect(oci.linux.readonlyPaths).toContain("/proc/sys")
  })

  it("keeps a namespace with only lo in every network mode; with egress binds resolv.conf and points every process at the proxy", () => {
    expect(oci.mounts.some((m) => m.destination === "/etc/resolv.conf")).toBe(false)
    expect(oci.process.env.some((e) => /^(HTTPS?|ALL|NO)_PROXY=/i.test(e))).toBe(false)
    for (const network of ["allowlist", "open"] as const) {
      const egress = ociSpec({ ...inputs, spec: { ...spec, network } })
      expect(egress.linux.namespaces).toEqual(oci.linux.namespaces)
      expect(egress.mounts.find((m) => m.destination === "/etc/resolv.conf")).toEqual({
        destination: "/etc/resolv.conf",
        type: "bind",
        source: etc.resolvConf,
        options: ["rbind", "ro", "nosuid", "nodev", "noexec"]
      })
      expect(egress.process.env).toEqual(expect.arrayContaining([
        "HTTP_PROXY=http://127.0.0.1:3128", "HTTPS_PROXY=http://127.0.0.1:3128", "ALL_PROXY=http://127.0.0.1:3128",
        "http_proxy=http://127.0.0.1:3128", "https_proxy=http://127.0.0.1:3128", "NO_PROXY=localhost,127.0.0.1"
      ]))
      expect(egress.annotations).toEqual({ "io.hydravisor.network": network })
    }
    // the spec's own env wins over the proxy variables
    expect(sandboxEnv({ ...spec, network: "open", env: { NO_PROXY: "*" } })).toMatchObject({ NO_PROXY: "*", HTTP_PROXY: "http://127.0.0.1:3128" })
    expect(imageRequirements("none")).not.toContain("etc/resolv.conf")
    expect(imageRequirements("allowlist")).toContain("etc/resolv.conf")
  })

  it("reads back what it wrote: hostname, workspace, user, limits, network, env, cgroup, /etc files", () => {
    fc.assert(
      fc.property(specArbitrary, (s) => {
        const u = sandboxUser(s.id, 0x7000_0000, 0x1_0000)
        const view = Either.getOrThrow(readOciSpec(ociSpec({ ...inputs, spec: s, user: u })))
        expect(view).toEqual({
          hostname: s.hostname,
          workspaceDir: s.workspaceDir,
          user: { uid: u.uid, gid: u.gid },
          resources: s.resources,
          network: s.network,
          env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/workspace", ...networkEnv(s.network), ...s.env },
          cgroupsPath: `/hydravisor-containerd/${s.id}`,
          etc: s.network === "none" ? { passwd: etc.passwd, group: etc.group, hosts: etc.hosts } : etc,
          hardened: true
        })
      })
    )
  })

  it("survives the trip through containerd's Container message (JSON in an Any)", () => {
    const message = containerMessage("s1", oci)
    expect(message.spec.type_url).toBe(SPEC_TYPE_URL)
    expect(message.runtime).toEqual({ name: "io.containerd.runc.v2" })
    expect(message.labels).toEqual({ "io.hydravisor.sandbox": "s1" })
    expect(Either.getOrThrow(specOfContainer(message))).toEqual(JSON.parse(JSON.stringify(oci)))
    expect(Either.isLeft(specOfContainer({ ...message, spec: { ...message.spec, type_url: "x" } }))).toBe(true)
  })

  it("refuses to read a spec that shares a namespace or lacks the workspace", () => {
    expect(Either.isLeft(readOciSpec({ ...oci, linux: { ...oci.linux, namespaces: oci.linux.namespaces.filter((n) => n.type !== "network") } }))).toBe(true)
    expect(Either.isLeft(readOciSpec({ ...oci, mounts: oci.mounts.filter((m) => m.destination !== "/workspace") }))).toBe(true)
    const root = Either.getOrThrow(readOciSpec({ ...oci, process: { ...oci.process, user: { uid: 0, gid: 0, additionalGids: [] } } }))
    expect(root.hardened).toBe(false)
    const { annotations: _, ...older } = oci
    expect(Either.getOrThrow(readOciSpec(older)).network).toBe("none")
    expect(Either.isLeft(readOciSpec({ ...oci, annotations: { "io.hydravisor.network": "open" } }))).toBe(true)
    expect(Either.isLeft(readOciSpec({ ...oci, annotations: { "io.hydravisor.network": "bridge" } }))).toBe(true)
  })
})

describe("taskCreateMessage", () => {
  const crun: OciRuntime = { name: "crun", binary: "/usr/bin/crun", reason: "test" }

  it("binds the image directory read-only as the bundle's rootfs, with no stdio, and names the OCI runtime", () => {
    expect(taskCreateMessage("s1", "/img/rootfs", crun)).toEqual({
      container_id: "s1",
      rootfs: [{ type: "bind", source: "/img/rootfs", target: "", options: ["rbind", "ro"] }],
      stdin: "",
      stdout: "",
      stderr: "",
      terminal: false,
      options: { type_url: "containerd.runc.v1.Options", value: { binary_name: "/usr/bin/crun" } }
    })
  })

  it("goes on the wire as CreateTaskRequest.options = 9, a google.protobuf.Any holding containerd.runc.v1.Options with binary_name = 6", () => {
    fc.assert(
      fc.property(fc.constantFrom("crun", "runc"), fc.stringMatching(/^\/[a-z0-9/._-]{1,60}$/), (name, binary) => {
        const wire = encodeRequest("Tasks.Create", taskCreateMessage("s1", "/img/rootfs", { name, binary, reason: "" }))
        const request = wireFields(wire)
        expect(text(request.get(1))).toBe("s1")
        const any = wireFields(bytesOf(request.get(9)))
        expect(text(any.get(1))).toBe(RUNC_OPTIONS_TYPE_URL)
        const options = wireFields(bytesOf(any.get(2)))
        expect([...options.keys()]).toEqual([6])
        expect(text(options.get(6))).toBe(binary)
      })
    )
  })
})

describe("checkSpec", () => {
  const rejects = (s: SandboxSpec, tag: string, field?: string) => {
    const result = checkSpec(s)
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) {
      expect(result.left._tag).toBe(tag)
      if (field !== undefined && "field" in result.left) expect(result.left.field).toBe(field)
    }
  }

  it("accepts a plain spec and rejects what containerd or our isolation cannot take", () => {
    expect(Either.isRight(checkSpec(spec))).toBe(true)
    expect(Either.isRight(checkSpec({ ...spec, network: "allowlist" }))).toBe(true)
    expect(Either.isRight(checkSpec({ ...spec, network: "open" }))).toBe(true)
    rejects({ ...spec, rootfs: { kind: "host" } }, "InvalidSandboxSpec", "rootfs")
    rejects({ ...spec, rootfs: { kind: "image", path: "relative" } }, "InvalidSandboxSpec", "rootfs.path")
    rejects({ ...spec, id: "-leading-dash" }, "InvalidSandboxSpec", "id")
    rejects({ ...spec, hostname: "no_underscores" }, "InvalidSandboxSpec", "hostname")
    rejects({ ...spec, stateDir: "/data/workspaces/s1/state" }, "InvalidSandboxSpec", "stateDir")
    rejects({ ...spec, workspaceDir: "/" }, "InvalidSandboxSpec", "workspaceDir")
    rejects({ ...spec, env: { "A=B": "x" } }, "InvalidSandboxSpec", "env.A=B")
  })
})

describe("execProcess", () => {
  it("runs argv through env -C as the sandbox user, without capabilities", () => {
    const process = Either.getOrThrow(execProcess(user, { LANG: "C" }, { argv: ["ls", "-l"], cwd: "src", env: { X: "1" } }))
    expect(process.args).toEqual(["/usr/bin/env", "-C", "/workspace/src", "--", "ls", "-l"])
    expect(process.env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/workspace", "LANG=C", "X=1"])
    expect(process).toMatchObject({ cwd: "/", terminal: false, noNewPrivileges: true, user: { uid: user.uid, gid: user.gid } })
    expect(process.capabilities.bounding).toEqual([])
  })

  it("limits open files to the sandbox's fileHandles, or to the runner's default", () => {
    const request = { argv: ["true"] }
    const limit = (resources?: SandboxSpec["resources"]) => Either.getOrThrow(execProcess(user, {}, request, resources)).rlimits
    expect(limit({ cpuCores: 1, memoryMb: 64, pids: 64, fileHandles: 64 })).toEqual([{ type: "RLIMIT_NOFILE", hard: 64, soft: 64 }])
    expect(limit({ cpuCores: 1, memoryMb: 64, pids: 64 })).toEqual([{ type: "RLIMIT_NOFILE", hard: 4096, soft: 4096 }])
    expect(ociSpec({ ...inputs, spec: { ...spec, resources: { ...spec.resources, fileHandles: 64 } } }).process.rlimits).toEqual([{ type: "RLIMIT_NOFILE", hard: 64, soft: 64 }])
  })

  it("reads back argv, cwd and env for any request", () => {
    fc.assert(
      fc.property(arbitrary.argv, fc.option(fc.stringMatching(/^\/?[a-z0-9/]{1,20}$/), { nil: undefined }), arbitrary.env, (argv, cwd, env) => {
        const request: ExecRequest = cwd === undefined ? { argv, env } : { argv, cwd, env }
        const process = Either.getOrThrow(execProcess(user, {}, request))
        const back = Either.getOrThrow(readExecProcess(process))
        expect(back.argv).toEqual(argv)
        expect(back.cwd).toBe(resolveCwd(cwd))
        expect(back.env).toEqual({ PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/workspace", ...env })
        const message = execProcessMessage("s1", "exec-1", { stdin: "", stdout: "/o", stderr: "/e" }, process)
        expect(Either.getOrThrow(processOfExec(message))).toEqual(JSON.parse(JSON.stringify(process)))
      })
    )
  })

  it("rejects an empty argv, '=' in the program, NUL anywhere and bad env names", () => {
    for (const request of [{ argv: [] }, { argv: ["A=1"] }, { argv: ["x", "a\0b"] }, { argv: ["x"], cwd: "" }, { argv: ["x"], env: { "": "v" } }]) {
      expect(Either.isLeft(execProcess(user, {}, request)), JSON.stringify(request)).toBe(true)
    }
  })
})

describe("exit statuses", () => {
  it("reads 128 + n as signal n, other statuses as exit codes, and back", () => {
    expect(exitOutcome(0)).toEqual({ exitCode: 0, signal: null })
    expect(exitOutcome(3)).toEqual({ exitCode: 3, signal: null })
    expect(exitOutcome(137)).toEqual({ exitCode: null, signal: "SIGKILL" })
    expect(exitOutcome(143)).toEqual({ exitCode: null, signal: "SIGTERM" })
    expect(exitOutcome(255)).toEqual({ exitCode: 255, signal: null })
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), (status) => waitStatusOf(exitOutcome(status)) === status))
  })
})

describe("task events and states", () => {
  it("subscribes to this namespace's exits and OOM kills only", () => {
    expect(subscribeFilters("hydravisor")).toEqual(['namespace==hydravisor,topic=="/tasks/exit"', 'namespace==hydravisor,topic=="/tasks/oom"'])
  })

  it("turns envelopes into exit and OOM events", () => {
    const value = { container_id: "s1", id: "exec-1", pid: 42, exit_status: 137 }
    expect(taskEventOf({ namespace: "n", topic: "/tasks/exit", event: { type_url: "containerd.events.TaskExit", value } })).toEqual({
      kind: "exit",
      containerId: "s1",
      processId: "exec-1",
      pid: 42,
      exitStatus: 137
    })
    expect(taskEventOf({ namespace: "n", topic: "/tasks/oom", event: { type_url: "containerd.events.TaskOOM", value: { ...value, id: "", pid: 0, exit_status: 0 } } })).toEqual({ kind: "oom", containerId: "s1" })
    expect(taskEventOf({ namespace: "n", topic: "/tasks/paused", event: { type_url: "x", value } })).toBeNull()
    expect(taskEventOf({ namespace: "n", topic: "/tasks/exit", event: null })).toBeNull()
  })

  it("maps task statuses to sandbox states: a task not running that we did not stop is gone", () => {
    expect(sandboxStateOf(null)).toBe("stopped")
    expect(sandboxStateOf("RUNNING")).toBe("running")
    expect(sandboxStateOf("PAUSED")).toBe("paused")
    expect(sandboxStateOf("PAUSING")).toBe("paused")
    expect(sandboxStateOf("STOPPED")).toBe("gone")
  })

  it("reads the session id from /proc/<pid>/stat, whatever the command name holds", () => {
    expect(sessionOfStat("123 (sh) S 1 123 120 0 -1 4194560")).toBe(120)
    expect(sessionOfStat("77 (a) b) c) R 5 6 7 0 -1")).toBe(7)
  })
})

describe("seccompProfile", () => {
  const profile = seccompProfile("x64")

  it("allows by default and denies the listed calls with EPERM, clone3 with ENOSYS", () => {
    expect(profile.defaultAction).toBe("SCMP_ACT_ALLOW")
    expect(profile.architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    expect(seccompProfile("arm64").architectures).toEqual(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
    expect(profile.syscalls[0]).toEqual({ names: DENIED_SYSCALLS, action: "SCMP_ACT_ERRNO", errnoRet: 1 })
    for (const name of ["mount", "ptrace", "bpf", "unshare", "setns", "keyctl", "init_module", "perf_event_open", "io_uring_setup"]) {
      expect(DENIED_SYSCALLS).toContain(name)
    }
    expect(profile.syscalls).toContainEqual({ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: 38 })
  })

  it("denies clone with any namespace flag, one masked rule per flag", () => {
    const cloneRules = profile.syscalls.filter((rule) => rule.names.includes("clone"))
    expect(cloneRules.map((rule) => rule.args?.[0]?.value).sort()).toEqual(Object.values(CLONE_NAMESPACE_FLAGS).sort())
    for (const rule of cloneRules) expect(rule.args?.[0]).toMatchObject({ index: 0, op: "SCMP_CMP_MASKED_EQ" })
  })

  it("never denies what a shell, runc's exec or a compiler needs", () => {
    for (const name of ["execve", "clone", "fork", "vfork", "wait4", "openat", "mmap", "setsid", "prctl", "socket"]) {
      expect(DENIED_SYSCALLS).not.toContain(name)
    }
  })
})

describe("namespaces", () => {
  it("lists exactly the six the runner unshares", () => {
    expect(NAMESPACES).toEqual(["pid", "ipc", "uts", "mount", "network", "cgroup"])
  })
})
