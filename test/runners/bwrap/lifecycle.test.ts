// The bwrap runner's lifecycle on the real host: create, start, pause/resume, stop, destroy, and a
// handle read back after the daemon that started it was killed.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { probeHost } from "../../../src/runners/bwrap/host.js"
import type { SandboxHandle } from "../../../src/runners/runner.js"
import { cgroupPathsOf, dataDir, eventually, launchSandbox, out, readNumber, specIn, TEST_CGROUP_PARENT, testRunner, uniqueId } from "./sandbox-fixture.js"

const procsIn = (dir: string): ReadonlyArray<number> =>
  fs.readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n").filter((l) => l !== "").map(Number)

describe("bwrap runner lifecycle", () => {
  it.effect("finds everything it needs on this host (bwrap, nsenter, setpriv, cgroups with cgroup.kill)", () =>
    Effect.gen(function* () {
      const host = yield* probeHost(TEST_CGROUP_PARENT)
      expect(host.bwrap).toMatch(/bwrap$/)
      expect(["v2", "hybrid"]).toContain(host.layout.kind)
    })
  )

  it.scopedLive("creates directories and a limited cgroup without running anything", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      const spec = specIn(dir, uniqueId("create"), { resources: { cpuCores: 0.5, memoryMb: 96, pids: 40 } })
      const handle = yield* Effect.acquireRelease(runner.create(spec), (h) => runner.destroy(h).pipe(Effect.orDie))
      expect(handle).toMatchObject({ id: spec.id, runner: "bwrap", pid: null })
      expect(yield* runner.status(handle)).toMatchObject({ state: "stopped", pids: [] })
      const cgroups = yield* cgroupPathsOf(handle)
      expect(handle.cgroup).toBe(cgroups.tracking)
      expect(fs.readFileSync(path.join(cgroups.pids, "pids.max"), "utf8").trim()).toBe("40")
      const memoryFile = cgroups.kind === "v2" ? "memory.max" : "memory.limit_in_bytes"
      expect(readNumber(path.join(cgroups.memory, memoryFile))).toBe(96 * 1024 * 1024)
      if (cgroups.cpu !== null) {
        const cpu = cgroups.kind === "v2"
          ? fs.readFileSync(path.join(cgroups.cpu, "cpu.max"), "utf8").trim()
          : `${readNumber(path.join(cgroups.cpu, "cpu.cfs_quota_us"))} ${readNumber(path.join(cgroups.cpu, "cpu.cfs_period_us"))}`
        expect(cpu).toBe("50000 100000")
      }
      const workspace = fs.statSync(spec.workspaceDir)
      expect(workspace.uid).toBeGreaterThan(0)
      expect(workspace.mode & 0o777).toBe(0o700)
      const again = yield* Effect.flip(runner.create(spec))
      expect(again._tag).toBe("SandboxExists")
    })
  )

  it.scopedLive("gives an allowlist sandbox only lo, the proxy variables and resolv.conf; rejects foreign or garbled handles", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      const sandbox = yield* launchSandbox(runner, dir, "net", { network: "allowlist" })
      const seen = out(yield* sandbox.sh("ls /sys/class/net 2>/dev/null || cat /proc/net/dev; echo \"$HTTPS_PROXY\"; cat /etc/resolv.conf"))
      expect(seen).toContain("lo")
      expect(seen).not.toMatch(/eth|veth|ens/)
      expect(seen).toContain("http://127.0.0.1:3128")
      expect(seen).toContain("nameserver 127.0.0.1")
      const foreign = yield* Effect.flip(runner.status({ id: "x", runner: "containerd", pid: null, cgroup: "/", runnerState: {} }))
      expect(foreign._tag).toBe("InvalidHandle")
      const garbled = yield* Effect.flip(runner.stop({ id: "x", runner: "bwrap", pid: null, cgroup: "/", runnerState: { spec: 1 } }))
      expect(garbled._tag).toBe("InvalidHandle")
      const handle = yield* Effect.acquireRelease(runner.create(specIn(dir, uniqueId("real"))), (h) => runner.destroy(h).pipe(Effect.orDie))
      const swapped = yield* Effect.flip(runner.destroy({ ...handle, id: "someone-else" }))
      expect(swapped._tag).toBe("InvalidHandle")
    })
  )

  it.scopedLive("puts the launcher itself (then bwrap) into every cgroup, and the handle survives JSON", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const sandbox = yield* launchSandbox(runner, yield* dataDir, "start")
      const cgroups = yield* cgroupPathsOf(sandbox.handle)
      const bwrapPid = sandbox.handle.runnerState["bwrapPid"] as number
      for (const dir of cgroups.dirs) expect(procsIn(dir)).toContain(bwrapPid)
      expect(procsIn(cgroups.tracking)).toContain(sandbox.handle.pid)
      const persisted = JSON.parse(JSON.stringify(sandbox.handle)) as SandboxHandle
      expect(yield* runner.status(persisted)).toMatchObject({ state: "running" })
      expect(out(yield* runner.exec(persisted, { argv: ["echo", "via-persisted-handle"] }))).toBe("via-persisted-handle\n")
      const twice = yield* Effect.flip(runner.start(persisted))
      expect(twice._tag).toBe("SandboxStateConflict")
    })
  )

  it.scopedLive("pause freezes every process (a counter stops) and resume thaws them", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const sandbox = yield* launchSandbox(runner, yield* dataDir, "pause")
      const counter = path.join(sandbox.spec.workspaceDir, "counter")
      yield* sandbox.sh("(i=0; while :; do i=$((i+1)); echo $i > /workspace/counter.tmp; mv /workspace/counter.tmp /workspace/counter; sleep 0.01; done) >/dev/null 2>&1 &")
      expect(yield* eventually(() => fs.existsSync(counter) && readNumber(counter) > 3)).toBe(true)
      yield* runner.pause(sandbox.handle)
      expect((yield* runner.status(sandbox.handle)).state).toBe("paused")
      const frozenAt = readNumber(counter)
      yield* Effect.sleep("300 millis")
      expect(readNumber(counter)).toBe(frozenAt)
      const blocked = yield* Effect.flip(sandbox.run(["true"]))
      expect(blocked._tag).toBe("SandboxStateConflict")
      yield* runner.resume(sandbox.handle)
      expect((yield* runner.status(sandbox.handle)).state).toBe("running")
      expect(yield* eventually(() => readNumber(counter) > frozenAt + 3)).toBe(true)
    })
  )

  it.scopedLive("stop kills every process, leaves the cgroup empty, and the sandbox can start again", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const sandbox = yield* launchSandbox(runner, yield* dataDir, "stop")
      yield* sandbox.sh("setsid sleep 300 >/dev/null 2>&1 & (sleep 300 &) >/dev/null 2>&1; true")
      expect((yield* runner.status(sandbox.handle)).pids.length).toBeGreaterThan(3)
      yield* runner.pause(sandbox.handle)
      yield* runner.stop(sandbox.handle)
      const cgroups = yield* cgroupPathsOf(sandbox.handle)
      expect(fs.readFileSync(path.join(cgroups.tracking, "cgroup.events"), "utf8")).toMatch(/^populated 0$/m)
      for (const dir of cgroups.dirs) expect(procsIn(dir)).toEqual([])
      expect(yield* runner.status(sandbox.handle)).toMatchObject({ state: "stopped", pids: [] })
      const refused = yield* Effect.flip(sandbox.run(["true"]))
      expect(refused._tag).toBe("SandboxStateConflict")
      yield* runner.stop(sandbox.handle)
      const restarted = yield* runner.start(sandbox.handle)
      expect(out(yield* runner.exec(restarted, { argv: ["echo", "again"] }))).toBe("again\n")
    })
  )

  it.scopedLive("destroy removes cgroups, state and workspace; status then says gone", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      const spec = specIn(dir, uniqueId("destroy"))
      const handle = yield* runner.start(yield* runner.create(spec))
      yield* runner.destroy(handle)
      for (const d of (yield* cgroupPathsOf(handle)).dirs) expect(fs.existsSync(d)).toBe(false)
      expect(fs.existsSync(spec.workspaceDir)).toBe(false)
      expect(fs.existsSync(spec.stateDir)).toBe(false)
      expect(yield* runner.status(handle)).toEqual({ state: "gone", pids: [], memoryBytes: null, oomKills: 0, pidsLimitHits: 0 })
      const gone = yield* Effect.flip(runner.exec(handle, { argv: ["true"] }))
      expect(gone._tag).toBe("SandboxGone")
      yield* runner.destroy(handle)
    })
  )

  it.scopedLive("reports gone for a persisted handle after its daemon was SIGKILLed (die-with-parent)", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      const spec = specIn(dir, uniqueId("daemon"))
      const script = fileURLToPath(new URL("./daemon-child.ts", import.meta.url))
      const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
      const daemon = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(process.execPath, ["--import", "tsx", script, JSON.stringify(spec)], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] })),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      const line = yield* Effect.async<string, Error>((resume) => {
        let buffered = ""
        let errors = ""
        daemon.stdout?.on("data", (chunk: Buffer) => {
          buffered += chunk.toString("utf8")
          if (buffered.includes("\n")) resume(Effect.succeed(buffered.slice(0, buffered.indexOf("\n"))))
        })
        daemon.stderr?.on("data", (chunk: Buffer) => (errors += chunk.toString("utf8")))
        daemon.on("exit", (code) => resume(Effect.fail(new Error(`daemon exited ${code}: ${errors}`))))
      })
      const handle = JSON.parse(line) as SandboxHandle
      yield* Effect.addFinalizer(() => runner.destroy(handle).pipe(Effect.orDie))
      expect((yield* runner.status(handle)).state).toBe("running")
      daemon.kill("SIGKILL")
      const cgroups = yield* cgroupPathsOf(handle)
      expect(yield* eventually(() => procsIn(cgroups.tracking).length === 0)).toBe(true)
      expect(yield* runner.status(handle)).toMatchObject({ state: "gone", pids: [] })
      const exec = yield* Effect.flip(runner.exec(handle, { argv: ["true"] }))
      expect(exec._tag).toBe("SandboxGone")
    })
  )

  it.scopedLive("runs from an image rootfs: the image's /usr and /etc, not the host's", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      const image = path.join(dir, "image")
      fs.mkdirSync(path.join(image, "etc"), { recursive: true })
      fs.symlinkSync("/usr", path.join(image, "usr"))
      for (const link of ["bin", "lib", "lib64"]) if (fs.existsSync(`/${link}`)) fs.symlinkSync(`usr/${link}`, path.join(image, link))
      for (const file of ["passwd", "group", "hosts", "ld.so.cache"]) fs.copyFileSync(`/etc/${file}`, path.join(image, "etc", file))
      fs.writeFileSync(path.join(image, "etc", "image-marker"), "from-the-image\n")
      const sandbox = yield* launchSandbox(runner, dir, "image", { rootfs: { kind: "image", path: image } })
      expect(out(yield* sandbox.run(["cat", "/etc/image-marker"]))).toBe("from-the-image\n")
      expect((yield* sandbox.run(["ls", "/etc"])).stdout.length).toBeGreaterThan(0)
      expect(out(yield* sandbox.sh("ls /etc | sort | tr '\\n' ' '"))).toBe("group hosts image-marker ld.so.cache passwd ")
      const missing = yield* Effect.flip(runner.create(specIn(dir, uniqueId("noimage"), { rootfs: { kind: "image", path: path.join(dir, "empty") } })))
      expect(missing._tag).toBe("InvalidSandboxSpec")
    })
  )

  // Speed is measured by bench/sandbox.ts, not here; this holds the runner to many launches and execs in a row.
  it.scopedLive("launches and destroys 7 sandboxes in a row, then runs 30 execs in one, every one as asked", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      for (let i = 0; i < 7; i++) {
        const handle = yield* runner.start(yield* runner.create(specIn(dir, uniqueId("speed"))))
        expect((yield* runner.status(handle)).state).toBe("running")
        yield* runner.destroy(handle)
      }
      const sandbox = yield* launchSandbox(runner, dir, "speed")
      for (let i = 0; i < 30; i++) expect(out(yield* sandbox.run(["echo", String(i)]))).toBe(`${i}\n`)
    })
  )
})
