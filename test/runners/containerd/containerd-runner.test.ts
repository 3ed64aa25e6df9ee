// What only the containerd runner has: containerd's own answers (the spec it stored, its OOM events),
// runc applying our limits and seccomp profile, containers outliving the runner, a clear error when
// containerd is not there, and the launch and exec timings. The shared contract is conformance-containerd.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import type { Scope } from "effect"
import { execFileSync, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { beforeAll } from "vitest"
import { detectLayout } from "../../../src/runners/cgroups/cgroup.js"
import { sandboxCgroupPaths } from "../../../src/runners/cgroups/layout.js"
import { makeClient } from "../../../src/runners/containerd/client.js"
import { defaultConfig, make } from "../../../src/runners/containerd/containerd-runner.js"
import { IMAGE_REQUIREMENTS, readOciSpec, specOfContainer } from "../../../src/runners/containerd/mapping.js"
import type { ContainerMessage } from "../../../src/runners/containerd/mapping.js"
import { sessionOfStat } from "../../../src/runners/containerd/session.js"
import { followTaskEvents } from "../../../src/runners/containerd/task-events.js"
import type { Runner, SandboxSpec } from "../../../src/runners/runner.js"
import { startContainerd, TEST_CONTAINERD, testImage } from "./fixture.js"

let rootfs = ""
beforeAll(async () => {
  startContainerd()
  rootfs = (await testImage()).rootfs
}, 600_000)

const socket = defaultConfig().socket
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

const dataDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "hv-containerd-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const specIn = (dir: string, label: string, overrides: Partial<SandboxSpec> = {}): SandboxSpec => {
  const id = `k-${label}-${randomBytes(4).toString("hex")}`
  return {
    id,
    hostname: id,
    workspaceDir: path.join(dir, "workspaces", id),
    stateDir: path.join(dir, "state", id),
    rootfs: { kind: "image", path: rootfs },
    resources: { cpuCores: 0.5, memoryMb: 96, pids: 40 },
    network: "none",
    env: {},
    ...overrides
  }
}

const startSandbox = (runner: Runner, spec: SandboxSpec) =>
  Effect.gen(function* () {
    const created = yield* Effect.acquireRelease(runner.create(spec), (h) => runner.destroy(h).pipe(Effect.orDie))
    return yield* runner.start(created)
  })

const testRunner: Effect.Effect<Runner, never, Scope.Scope> = make(TEST_CONTAINERD)

/** The runc shim's default state root for our namespace, where both crun and runc keep a container's state. */
const OCI_STATE_ROOT = `/run/containerd/runc/${TEST_CONTAINERD.namespace ?? ""}`

/** `<runtime> state <id>` as the OCI runtime itself answers it; null when it knows no such container. */
const ociState = (runtime: "crun" | "runc", id: string): unknown => {
  try {
    return JSON.parse(execFileSync(runtime, ["--root", OCI_STATE_ROOT, "state", id], { stdio: ["ignore", "pipe", "pipe"] }).toString())
  } catch {
    return null
  }
}

describe("containerd runner", () => {
  it.scopedLive("fails with HostUnsupported naming `hydravisor doctor` and the start command when containerd is not running", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      const missing = path.join(dir, "no-containerd.sock")
      const absent = yield* Effect.flip((yield* make({ ...TEST_CONTAINERD, socket: missing })).create(specIn(dir, "nodaemon")))
      expect(absent._tag).toBe("HostUnsupported")
      expect(absent.message).toContain("containerd is not running")
      expect(absent.message).toContain(missing)
      expect(absent.message).toContain("hydravisor doctor")
      expect(absent.message).toContain("scripts/start-containerd.sh")
      expect(absent.message).toContain("HYDRAVISOR_CONTAINERD_SOCKET")
      // a socket file left behind by a killed daemon: nothing answers on it
      const stale = path.join(dir, "stale.sock")
      yield* Effect.async<void>((resume) => {
        const holder = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(stale)}, () => console.log("up"))`], { stdio: ["ignore", "pipe", "ignore"] })
        holder.stdout.once("data", () => {
          holder.kill("SIGKILL")
          holder.once("exit", () => resume(Effect.void))
        })
      })
      expect(fs.statSync(stale).isSocket()).toBe(true)
      const refused = yield* Effect.flip((yield* make({ ...TEST_CONTAINERD, socket: stale })).create(specIn(dir, "stale")))
      expect(refused._tag).toBe("HostUnsupported")
      expect(refused.message).toContain("nothing answers")
      expect(refused.message).toContain("hydravisor doctor")
    })
  )

  it.scopedLive("refuses a host rootfs and an image that lacks what it needs", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      const host = yield* Effect.flip(runner.create(specIn(dir, "host", { rootfs: { kind: "host" } })))
      expect(host).toMatchObject({ _tag: "InvalidSandboxSpec", field: "rootfs" })
      const empty = path.join(dir, "empty-image")
      fs.mkdirSync(empty)
      const lacking = yield* Effect.flip(runner.create(specIn(dir, "lacking", { rootfs: { kind: "image", path: empty } })))
      expect(lacking).toMatchObject({ _tag: "InvalidSandboxSpec", field: "rootfs.path" })
      expect(lacking.message).toContain("lacks /bin/sh")
      // with egress, resolv.conf is bound over the image's own, which the read-only root must already have
      const noResolv = path.join(dir, "no-resolv-image")
      for (const needed of IMAGE_REQUIREMENTS) {
        fs.mkdirSync(path.dirname(path.join(noResolv, needed)), { recursive: true })
        if (needed === "workspace") fs.mkdirSync(path.join(noResolv, needed))
        else fs.writeFileSync(path.join(noResolv, needed), "")
      }
      const offline = yield* runner.create(specIn(dir, "offline", { rootfs: { kind: "image", path: noResolv } }))
      yield* runner.destroy(offline)
      const egress = yield* Effect.flip(runner.create(specIn(dir, "egress", { network: "allowlist", rootfs: { kind: "image", path: noResolv } })))
      expect(egress).toMatchObject({ _tag: "InvalidSandboxSpec", field: "rootfs.path" })
      expect(egress.message).toContain("lacks /etc/resolv.conf")
    })
  )

  it.scopedLive("allowlist and open: only lo, the monitor's resolv.conf and proxy variables for every process; handle.pid is the container's init", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      const client = yield* makeClient(socket, TEST_CONTAINERD.namespace ?? "")
      for (const network of ["allowlist", "open"] as const) {
        const spec = specIn(dir, network, { network, env: { KEEP: "1" } })
        const handle = yield* startSandbox(runner, spec)
        const answer = (yield* client.call("Containers.Get", { id: spec.id })) as { container: ContainerMessage }
        expect(Either.getOrThrow(readOciSpec(Either.getOrThrow(specOfContainer(answer.container)))).network).toBe(network)
        const run = (script: string) => runner.exec(handle, { argv: ["/bin/sh", "-c", script] }).pipe(Effect.map((r) => text(r.stdout)))
        expect(yield* run("cat /etc/resolv.conf")).toBe("nameserver 127.0.0.1\noptions attempts:1 timeout:2\n")
        expect(yield* run("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")).toBe("lo\n")
        const proxyVars = (environ: string) =>
          environ.split(/[\0\n]/).filter((e) => /^(https?|all|no)_proxy=|^KEEP=/i.test(e)).sort()
        const expected = [
          "ALL_PROXY=http://127.0.0.1:3128", "HTTPS_PROXY=http://127.0.0.1:3128", "HTTP_PROXY=http://127.0.0.1:3128", "KEEP=1",
          "NO_PROXY=localhost,127.0.0.1", "all_proxy=http://127.0.0.1:3128", "http_proxy=http://127.0.0.1:3128", "https_proxy=http://127.0.0.1:3128",
          "no_proxy=localhost,127.0.0.1"
        ].sort()
        expect(proxyVars(yield* run("env"))).toEqual(expected)
        // pid 1 (the init) has them too, so whatever it starts inherits them
        expect(proxyVars(yield* run("cat /proc/1/environ"))).toEqual(expected)
        // the network monitor enters /proc/<handle.pid>/ns/net; the process monitor attributes by /proc/<handle.pid>/ns/pid
        const pid = handle.pid ?? -1
        expect(yield* run("readlink /proc/self/ns/net /proc/self/ns/pid /proc/1/ns/net")).toBe(
          [fs.readlinkSync(`/proc/${pid}/ns/net`), fs.readlinkSync(`/proc/${pid}/ns/pid`), fs.readlinkSync(`/proc/${pid}/ns/net`), ""].join("\n")
        )
        expect(fs.readlinkSync(`/proc/${pid}/ns/net`)).not.toBe(fs.readlinkSync("/proc/self/ns/net"))
        expect(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, 2)).toEqual(["/bin/sh", "-c"])
      }
    })
  )

  it.scopedLive("stores the spec we generate in containerd: read back, it is hardened", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const spec = specIn(yield* dataDir, "spec")
      const handle = yield* startSandbox(runner, spec)
      const client = yield* makeClient(socket, TEST_CONTAINERD.namespace ?? "")
      const answer = (yield* client.call("Containers.Get", { id: spec.id })) as { container: ContainerMessage }
      expect(answer.container.labels).toEqual({ "io.hydravisor.sandbox": spec.id })
      const view = Either.getOrThrow(readOciSpec(Either.getOrThrow(specOfContainer(answer.container))))
      expect(view).toMatchObject({ hostname: spec.hostname, workspaceDir: spec.workspaceDir, resources: spec.resources, network: "none", hardened: true })
      expect(handle.cgroup).toContain(spec.id)
    })
  )

  it.scopedLive("the OCI runtime applies the limits, the read-only root and the seccomp profile", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const spec = specIn(yield* dataDir, "applied")
      const handle = yield* startSandbox(runner, spec)
      const run = (script: string) => runner.exec(handle, { argv: ["/bin/sh", "-c", script] })
      const layout = yield* detectLayout("containerd")
      const cgroups = sandboxCgroupPaths(layout, TEST_CONTAINERD.cgroupParent ?? "", spec.id)
      const read = (dir: string, file: string) => fs.readFileSync(path.join(dir, file), "utf8").trim()
      expect(read(cgroups.pids, "pids.max")).toBe("40")
      expect(Number(read(cgroups.memory, layout.kind === "v2" ? "memory.max" : "memory.limit_in_bytes"))).toBe(96 * 1024 * 1024)
      if (cgroups.cpu !== null) {
        const cpu = layout.kind === "v2" ? read(cgroups.cpu, "cpu.max") : `${read(cgroups.cpu, "cpu.cfs_quota_us")} ${read(cgroups.cpu, "cpu.cfs_period_us")}`
        expect(cpu).toBe("50000 100000")
      }
      expect(text((yield* run("grep Seccomp: /proc/self/status")).stdout)).toMatch(/^Seccomp:\s+2$/m)
      const unshare = yield* run("unshare --user --map-root-user true")
      expect(unshare.exitCode).not.toBe(0)
      expect(text(unshare.stderr)).toMatch(/Operation not permitted/)
      expect(text((yield* run("grep ' / ' /proc/self/mounts")).stdout)).toMatch(/\sro[,\s]/)
      expect((yield* run("touch /etc/hydravisor-probe || touch /hydravisor-probe")).exitCode).not.toBe(0)
      expect(fs.existsSync(path.join(rootfs, "etc/hydravisor-probe"))).toBe(false)
    })
  )

  it.scopedLive("auto runs sandboxes under crun here: crun holds the container's state, an exec is not its own session leader", () =>
    Effect.gen(function* () {
      const runner = yield* make({ ...TEST_CONTAINERD, runtime: "auto" })
      const spec = specIn(yield* dataDir, "crun")
      const handle = yield* startSandbox(runner, spec)
      expect(ociState("crun", spec.id)).toMatchObject({ id: spec.id, status: "running", pid: handle.pid })
      expect(ociState("runc", spec.id)).toBeNull()
      // crun's exec starts the process under a short-lived parent that took the new session, outside the
      // container's pid namespace (so 0 inside); runc makes the process itself the leader
      expect(sessionOfStat(text((yield* runner.exec(handle, { argv: ["cat", "/proc/self/stat"] })).stdout))).toBe(0)
    })
  )

  it.scopedLive("runtime runc still works and kills an exec's whole tree on timeout", () =>
    Effect.gen(function* () {
      const runner = yield* make({ ...TEST_CONTAINERD, runtime: "runc" })
      const spec = specIn(yield* dataDir, "runc")
      const handle = yield* startSandbox(runner, spec)
      expect(ociState("runc", spec.id)).toMatchObject({ id: spec.id, status: "running", pid: handle.pid })
      expect(ociState("crun", spec.id)).toBeNull()
      const stat = text((yield* runner.exec(handle, { argv: ["cat", "/proc/self/stat"] })).stdout)
      expect(sessionOfStat(stat)).toBe(Number(stat.split(" ")[0]))
      const slow = yield* runner.exec(handle, { argv: ["/bin/sh", "-c", "sleep 100 & sleep 100"], timeoutMs: 300 })
      expect(slow.timedOut).toBe(true)
      // only the init's own sleep is left
      expect(text((yield* runner.exec(handle, { argv: ["/bin/sh", "-c", "cat /proc/[0-9]*/comm | grep -c sleep"] })).stdout)).toBe("1\n")
    })
  )

  it.scopedLive("reports an OOM kill with the reason from containerd's event stream", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const spec = specIn(yield* dataDir, "oomevent", { resources: { cpuCores: 1, memoryMb: 64, pids: 64 } })
      const handle = yield* startSandbox(runner, spec)
      const client = yield* makeClient(socket, TEST_CONTAINERD.namespace ?? "")
      const events = yield* followTaskEvents(client)
      yield* Effect.sleep("200 millis")
      const hog = yield* runner.exec(handle, { argv: ["tail", "/dev/zero"], timeoutMs: 30_000 })
      expect(hog).toMatchObject({ signal: "SIGKILL", oomKilled: true, timedOut: false })
      expect(events.oomCount(spec.id)).toBeGreaterThanOrEqual(1)
    })
  )

  it.scopedLive("containers outlive the runner that made them; another runner finds and drives them", () =>
    Effect.gen(function* () {
      const dir = yield* dataDir
      const spec = specIn(dir, "outlive")
      const handle = yield* Effect.scoped(
        Effect.gen(function* () {
          const first = yield* testRunner
          return yield* first.start(yield* first.create(spec))
        })
      )
      const second = yield* testRunner
      yield* Effect.addFinalizer(() => second.destroy(handle).pipe(Effect.orDie))
      expect((yield* second.status(handle)).state).toBe("running")
      expect(text((yield* second.exec(handle, { argv: ["echo", "still-here"] })).stdout)).toBe("still-here\n")
    })
  )

  // Speed is measured by bench/sandbox.ts, not here; this holds the runner to many launches and execs in a row.
  it.scopedLive("launches and destroys 30 sandboxes in a row, then runs 30 execs in one, every one as asked", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      for (let i = 0; i < 30; i++) {
        const handle = yield* runner.start(yield* runner.create(specIn(dir, "speed")))
        expect((yield* runner.status(handle)).state).toBe("running")
        yield* runner.destroy(handle)
      }
      const handle = yield* startSandbox(runner, specIn(dir, "speed"))
      for (let i = 0; i < 30; i++) expect(text((yield* runner.exec(handle, { argv: ["echo", String(i)] })).stdout)).toBe(`${i}\n`)
    })
  )
})
