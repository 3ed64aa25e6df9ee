// The pure bwrap mapping: sandbox spec → bwrap plan and argv (and back), exec request → the
// nsenter/setpriv/env chain, the launcher that joins cgroups.
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import {
  bwrapInvocation,
  checkSpec,
  etcFiles,
  execCommand,
  idMap,
  networkEnv,
  parseBwrapArgs,
  parseInfo,
  renderBwrapArgs,
  renderBwrapOptions,
  resolveCwd,
  sandboxPlan,
  sandboxState,
  sandboxUser
} from "../../../src/runners/bwrap/mapping.js"
import { launcherArgs, launcherFailure } from "../../../src/runners/bwrap/launcher.js"
import type { RootView } from "../../../src/runners/bwrap/mapping.js"
import type { ExecRequest, SandboxSpec } from "../../../src/runners/runner.js"
import * as arbitrary from "../arbitraries.js"

const spec: SandboxSpec = {
  id: "s1",
  hostname: "box",
  workspaceDir: "/data/workspaces/s1",
  stateDir: "/data/state/s1",
  rootfs: { kind: "host" },
  resources: { cpuCores: 1, memoryMb: 256, pids: 64 },
  network: "none",
  env: { LANG: "C.UTF-8" }
}
const user = { uid: 1_879_048_300, gid: 1_879_048_300, name: "agent" }
const hostRoot: RootView = {
  prefix: "/",
  entries: [
    { name: "bin", kind: "symlink", target: "usr/bin" },
    { name: "lib64", kind: "dir" }
  ],
  etc: "selected"
}
const etc = { passwd: "/data/state/s1/etc/passwd", group: "/data/state/s1/etc/group", hosts: "/data/state/s1/etc/hosts" }
const tools = { nsenter: "/usr/bin/nsenter", setpriv: "/usr/bin/setpriv", env: "/usr/bin/env" }

describe("sandboxPlan", () => {
  const plan = sandboxPlan(spec, user, hostRoot, etc)

  it("unshares every namespace and turns on every hardening flag", () => {
    expect(plan.unshare).toEqual(["user", "pid", "ipc", "uts", "net", "cgroup-try"])
    expect(plan).toMatchObject({ dieWithParent: true, newSession: true, capDropAll: true, clearEnv: true, hostname: "box", uid: user.uid, gid: user.gid })
  })

  it("shares the host's /usr read-only, the workspace read-write, and no home, /root or state dir", () => {
    const writable = plan.mounts.filter((m) => m.kind === "bind")
    expect(writable).toEqual([{ kind: "bind", source: spec.workspaceDir, dest: "/workspace" }])
    expect(plan.mounts).toContainEqual({ kind: "ro-bind", source: "/usr", dest: "/usr" })
    expect(plan.mounts).toContainEqual({ kind: "symlink", target: "usr/bin", dest: "/bin" })
    expect(plan.mounts).toContainEqual({ kind: "ro-bind", source: "/lib64", dest: "/lib64" })
    const sources = plan.mounts.flatMap((m) => ("source" in m ? [m.source] : []))
    expect(sources.filter((s) => /^\/(root|home)(\/|$)/.test(s))).toEqual([])
    expect(sources.filter((s) => s.startsWith(spec.stateDir))).toEqual([etc.passwd, etc.group, etc.hosts])
    expect(plan.mounts.filter((m) => m.kind === "ro-bind-try").map((m) => m.dest)).toEqual(
      ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/nsswitch.conf", "/etc/alternatives", "/etc/localtime"]
    )
  })

  it("mounts fresh /proc, /dev and world-writable sticky tmpfs on /tmp and /dev/shm", () => {
    expect(plan.mounts).toContainEqual({ kind: "proc", dest: "/proc" })
    expect(plan.mounts).toContainEqual({ kind: "dev", dest: "/dev" })
    expect(plan.mounts).toContainEqual({ kind: "tmpfs", dest: "/tmp", perms: "1777" })
    expect(plan.mounts).toContainEqual({ kind: "tmpfs", dest: "/dev/shm", perms: "1777" })
  })

  it("takes an image's /usr and whole /etc from the image directory", () => {
    const image = sandboxPlan({ ...spec, rootfs: { kind: "image", path: "/img" } }, user, { prefix: "/img", entries: [], etc: "whole" }, etc)
    expect(image.mounts.slice(0, 2)).toEqual([
      { kind: "ro-bind", source: "/img/usr", dest: "/usr" },
      { kind: "ro-bind", source: "/img/etc", dest: "/etc" }
    ])
  })

  it("renders argv bwrap understands", () => {
    const argv = renderBwrapArgs(plan)
    expect(argv.slice(0, 10)).toEqual([
      "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try",
      "--die-with-parent", "--new-session", "--cap-drop", "ALL"
    ])
    expect(argv.join(" ")).toContain("--perms 1777 --tmpfs /tmp")
    expect(argv.join(" ")).toContain(`--bind ${spec.workspaceDir} /workspace`)
    expect(argv.slice(argv.indexOf("--"))).toEqual(["--", "/bin/sh", "-c", "exec 3>&- 4>&- 5>&-; echo ready; read _"])
  })

  it("passes the options through --args so host paths stay out of the sandbox's cmdline", () => {
    const invocation = bwrapInvocation(plan)
    expect(invocation.argv).toEqual(["--args", "5", "--", ...plan.command])
    expect(invocation.argsData.split("\0").slice(0, -1)).toEqual(renderBwrapOptions(plan))
    expect(invocation.argv.join(" ")).not.toContain("/data")
  })
})

describe("parseBwrapArgs", () => {
  it("reads back any plan renderBwrapArgs writes", () => {
    fc.assert(
      fc.property(arbitrary.bwrapPlan, (plan) => {
        expect(parseBwrapArgs(renderBwrapArgs(plan))).toEqual(Either.right(plan))
      })
    )
  })

  it("rejects what it does not know, or a missing command separator", () => {
    expect(parseBwrapArgs(["--share-net", "--", "sh"])).toEqual(Either.left('unexpected argument "--share-net"'))
    expect(parseBwrapArgs(["--unshare-pid"])).toEqual(Either.left("missing -- before the command"))
    expect(parseBwrapArgs(["--bind", "/a"])).toEqual(Either.left("--bind needs two values"))
  })
})

describe("checkSpec", () => {
  const tag = (s: SandboxSpec) => Either.match(checkSpec(s), { onLeft: (e) => e._tag, onRight: () => "ok" })

  it("accepts a valid spec", () => expect(tag(spec)).toBe("ok"))

  it("accepts every network mode; egress modes get resolv.conf and the proxy variables, none gets neither", () => {
    expect(tag({ ...spec, network: "allowlist" })).toBe("ok")
    expect(tag({ ...spec, network: "open" })).toBe("ok")
    const etc = { passwd: "/s/passwd", group: "/s/group", hosts: "/s/hosts", resolvConf: "/s/resolv.conf" }
    const root = { prefix: "/", entries: [], etc: "selected" as const }
    const resolv = (s: SandboxSpec) => sandboxPlan(s, sandboxUser(s.id, 1000, 10), root, etc).mounts.filter((m) => m.dest === "/etc/resolv.conf")
    expect(resolv({ ...spec, network: "allowlist" })).toEqual([{ kind: "ro-bind", source: "/s/resolv.conf", dest: "/etc/resolv.conf" }])
    expect(resolv(spec)).toEqual([])
    expect(networkEnv("open")).toMatchObject({ HTTPS_PROXY: "http://127.0.0.1:3128", NO_PROXY: "localhost,127.0.0.1" })
    expect(networkEnv("none")).toEqual({})
  })

  it("refuses relative paths, a state dir that the workspace would expose, bad host names and env names", () => {
    expect(tag({ ...spec, workspaceDir: "ws" })).toBe("InvalidSandboxSpec")
    expect(tag({ ...spec, stateDir: "/data/workspaces/s1/.state" })).toBe("InvalidSandboxSpec")
    expect(tag({ ...spec, workspaceDir: "/data/state/s1/ws" })).toBe("InvalidSandboxSpec")
    expect(tag({ ...spec, hostname: "no_underscores" })).toBe("InvalidSandboxSpec")
    expect(tag({ ...spec, env: { "A=B": "x" } })).toBe("InvalidSandboxSpec")
    expect(tag({ ...spec, rootfs: { kind: "image", path: "img" } })).toBe("InvalidSandboxSpec")
  })
})

describe("execCommand", () => {
  const target = { pid: 4242, cgroupNamespace: true }
  const command = (request: ExecRequest, specEnv: Record<string, string> = {}) => execCommand(target, user, tools, specEnv, request)

  it("enters every namespace but the user namespace, drops to the sandbox user with no capabilities", () => {
    const argv = Either.getOrThrow(command({ argv: ["ls", "-l"] }))
    const setprivAt = argv.indexOf(tools.setpriv)
    const envAt = argv.indexOf(tools.env)
    expect(argv.slice(0, setprivAt)).toEqual([
      "/usr/bin/nsenter", "--target=4242", "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--root", "--"
    ])
    expect(argv.slice(setprivAt, envAt)).toEqual([
      "/usr/bin/setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups",
      "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"
    ])
    expect(argv.slice(envAt)).toEqual(["/usr/bin/env", "-i", "-C", "/workspace", "--", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/workspace", "ls", "-l"])
  })

  it("leaves out the cgroup namespace when the sandbox has none", () => {
    const argv = Either.getOrThrow(execCommand({ pid: 1, cgroupNamespace: false }, user, tools, {}, { argv: ["true"] }))
    expect(argv).not.toContain("--cgroup")
  })

  it("passes any argv and env verbatim after the assignments, request env over spec env over defaults", () => {
    fc.assert(
      fc.property(arbitrary.argv, arbitrary.env, arbitrary.env, (argv, specEnv, requestEnv): void => {
        const built = Either.getOrThrow(command({ argv, env: requestEnv }, specEnv))
        const tail = built.slice(built.indexOf("--", built.indexOf(tools.env)) + 1)
        const merged = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/workspace", ...specEnv, ...requestEnv }
        expect(tail).toEqual([...Object.entries(merged).map(([k, v]) => `${k}=${v}`), ...argv])
      })
    )
  })

  it("refuses what env or the kernel could not carry", () => {
    const tag = (request: ExecRequest) => Either.match(command(request), { onLeft: (e) => e.field, onRight: () => "ok" })
    expect(tag({ argv: [] })).toBe("argv")
    expect(tag({ argv: ["A=1"] })).toBe("argv[0]")
    expect(tag({ argv: ["echo", "a\0b"] })).toBe("argv")
    expect(tag({ argv: ["true"], cwd: "" })).toBe("cwd")
    expect(tag({ argv: ["true"], env: { "": "x" } })).toBe("env.")
  })
})

describe("resolveCwd", () => {
  it("defaults to /workspace, resolves relative paths under it and keeps absolute ones", () => {
    expect(resolveCwd(undefined)).toBe("/workspace")
    expect(resolveCwd("src/app")).toBe("/workspace/src/app")
    expect(resolveCwd("../tmp")).toBe("/tmp")
    expect(resolveCwd("/var//log/")).toBe("/var/log/")
  })
})

describe("sandbox user and identity files", () => {
  it("derives a stable uid per sandbox id within the configured range", () => {
    fc.assert(
      fc.property(arbitrary.sandboxId, (id): void => {
        const a = sandboxUser(id, 1000, 50)
        expect(a).toEqual(sandboxUser(id, 1000, 50))
        expect(a.uid).toBeGreaterThanOrEqual(1000)
        expect(a.uid).toBeLessThan(1050)
        expect(a.gid).toBe(a.uid)
      })
    )
  })

  it("maps root and the sandbox user to themselves in the user namespace", () => {
    expect(idMap(user)).toEqual({ uidMap: `0 0 1\n${user.uid} ${user.uid} 1\n`, gidMap: `0 0 1\n${user.gid} ${user.gid} 1\n` })
  })

  it("writes passwd, group and hosts for the sandbox", () => {
    const files = etcFiles("box", user)
    expect(files.passwd).toContain(`agent:x:${user.uid}:${user.gid}:agent:/workspace:/bin/sh\n`)
    expect(files.group).toContain(`agent:x:${user.gid}:\n`)
    expect(files.hosts).toContain("127.0.1.1\tbox\n")
  })

  it("reads the sandbox pid from bwrap's info JSON", () => {
    expect(parseInfo('{\n    "child-pid": 5821,\n    "cgroup-namespace": 4026532182\n}\n')).toEqual({ childPid: 5821, cgroupNamespace: true })
    expect(parseInfo('{ "child-pid": 7 }')).toEqual({ childPid: 7, cgroupNamespace: false })
    expect(parseInfo('{\n    "child-pid": 58')).toBeNull()
  })
})

describe("launcher", () => {
  it("writes its own pid into each file and execs the command under that same pid", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hv-launcher-"))
    try {
      const files = [path.join(dir, "a"), path.join(dir, "b")]
      const printed = execFileSync("/bin/sh", launcherArgs(files, ["/bin/sh", "-c", "echo $$"]), { encoding: "utf8" })
      for (const file of files) expect(fs.readFileSync(file, "utf8")).toBe(printed)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("fails with a recognisable message when it cannot join a cgroup", () => {
    const result = (() => {
      try {
        execFileSync("/bin/sh", launcherArgs(["/nonexistent/dir/cgroup.procs"], ["true"]), { encoding: "utf8", stdio: "pipe" })
        return { status: 0, stderr: "" }
      } catch (error) {
        return error as { status: number; stderr: string }
      }
    })()
    expect(result.status).toBe(125)
    expect(result.stderr).toContain("hydravisor-launcher: cannot join cgroup /nonexistent/dir/cgroup.procs")
  })

  it("as an exec's launcher, reports why it gave up on fd 3 (which the command never gets) and nothing when it did not", () => {
    // fd 3 is a file here; the spawner gives a pipe to its helper
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hv-launcher-"))
    const run = (files: ReadonlyArray<string>, command: ReadonlyArray<string>, fileHandles?: number) => {
      const fd3 = path.join(dir, "fd3")
      const fd = fs.openSync(fd3, "w")
      try {
        const r = spawnSync("/bin/sh", launcherArgs(files, command, { fd3: "report", fileHandles }), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe", fd] })
        return { status: r.status, stdout: r.stdout, stderr: r.stderr, reported: fs.readFileSync(fd3, "latin1") }
      } finally {
        fs.closeSync(fd)
      }
    }
    try {
      const joined = run(["/nonexistent/dir/cgroup.procs"], ["true"])
      expect([joined.status, joined.reported, launcherFailure(joined.reported)]).toEqual([125, "c", "cgroup"])
      expect(joined.stderr).toContain("hydravisor-launcher: cannot join cgroup")
      const limited = run([], ["true"], -5)
      expect([limited.status, launcherFailure(limited.reported)]).toEqual([125, "open-files"])
      // the command runs without fd 3, so what it writes and how it exits are its own
      const spoof = run([], ["/bin/sh", "-c", "printf c >&3 2>/dev/null; [ -e /proc/$$/fd/3 ] && echo fd3 || echo no-fd3; echo 'hydravisor-launcher: cannot join cgroup x' >&2; exit 125"])
      expect([spoof.status, spoof.reported, launcherFailure(spoof.reported)]).toEqual([125, "", null])
      expect(spoof.stdout).toBe("no-fd3\n")
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("sets the open-file limit (soft and hard) before the command when given one, and leaves it alone otherwise", () => {
    const limits = "echo $(ulimit -Sn) $(ulimit -Hn)"
    expect(execFileSync("/bin/sh", launcherArgs([], ["/bin/sh", "-c", limits], { fileHandles: 100 }), { encoding: "utf8" })).toBe("100 100\n")
    expect(execFileSync("/bin/sh", launcherArgs([], ["/bin/sh", "-c", limits], {}), { encoding: "utf8" })).toBe(execFileSync("/bin/sh", ["-c", limits], { encoding: "utf8" }))
  })
})

describe("sandboxState", () => {
  const observed = { populated: true, frozen: false, freezeRequested: false, initAlive: true, lifecycle: "started" as const }
  it("is paused while a freeze is asked for, even when the kernel's frozen flag dips as a late fork joins", () => {
    expect(sandboxState({ ...observed, frozen: true, freezeRequested: true })).toBe("paused")
    expect(sandboxState({ ...observed, frozen: false, freezeRequested: true })).toBe("paused")
  })
  it("is running, stopped or gone as its processes and state file say", () => {
    expect(sandboxState(observed)).toBe("running")
    expect(sandboxState({ ...observed, populated: false, initAlive: false, lifecycle: "stopped" })).toBe("stopped")
    expect(sandboxState({ ...observed, populated: false, initAlive: false, lifecycle: "created" })).toBe("stopped")
    expect(sandboxState({ ...observed, populated: false, initAlive: false })).toBe("gone")
    expect(sandboxState({ ...observed, initAlive: false })).toBe("gone")
    expect(sandboxState({ ...observed, populated: false, initAlive: false, freezeRequested: true, lifecycle: "stopped" })).toBe("stopped")
  })
})
