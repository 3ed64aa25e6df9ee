// Acceptance checks for the isolation layer: what a process inside a bwrap sandbox must not reach,
// and the limits that must hold against hostile workloads. Real bwrap, real cgroups.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { dataDir, launchSandbox, out, testRunner } from "./sandbox-fixture.js"

describe("bwrap sandbox isolation", () => {
  it.scopedLive("hides the host's /root", () =>
    Effect.gen(function* () {
      const sandbox = yield* launchSandbox(yield* testRunner, yield* dataDir, "root")
      for (const probe of ["ls /root", "cat /root/.bashrc", "test -e /root", "test -e /home"]) {
        const result = yield* sandbox.sh(probe)
        expect(result.exitCode, probe).not.toBe(0)
        expect(out(result), probe).toBe("")
      }
      const listing = yield* sandbox.run(["ls", "/"])
      const rootEntries = ["bin", "sbin", "lib", "lib32", "lib64", "libx32"].filter((e) => fs.existsSync(`/${e}`))
      expect(out(listing).trim().split("\n").sort()).toEqual([...rootEntries, "dev", "etc", "proc", "tmp", "usr", "workspace"].sort())
    })
  )

  it.scopedLive("cannot read the data dir or another sandbox's workspace", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      fs.writeFileSync(path.join(dir, "secret.txt"), "data-dir-secret")
      const a = yield* launchSandbox(runner, dir, "a")
      const b = yield* launchSandbox(runner, dir, "b")
      fs.writeFileSync(path.join(b.spec.workspaceDir, "b-secret.txt"), "b-secret")
      const attempts = [
        `cat ${dir}/secret.txt`,
        `cat ${b.spec.workspaceDir}/b-secret.txt`,
        `ls ${dir}`,
        `cat ${a.spec.stateDir}/etc/passwd`,
        "cat /workspace/../workspaces/*/b-secret.txt",
        "find / -xdev -name b-secret.txt 2>/dev/null",
        "cat /proc/1/cmdline /proc/2/cmdline | tr '\\0' ' '"
      ]
      for (const attempt of attempts) {
        const result = yield* a.sh(`${attempt}; true`)
        expect(out(result), attempt).not.toMatch(/secret/)
        expect(out(result), attempt).not.toContain(dir)
      }
      const own = yield* a.sh("echo mine > /workspace/f && cat /workspace/f")
      expect(out(own)).toBe("mine\n")
    })
  )

  it.scopedLive("cannot connect to a TCP server on the host's loopback; only lo exists", () =>
    Effect.gen(function* () {
      const server = yield* Effect.acquireRelease(
        Effect.async<net.Server>((resume) => {
          const s = net.createServer((socket) => socket.end("host-says-hello\n"))
          s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.sync(() => s.close())
      )
      const port = (server.address() as net.AddressInfo).port
      const sandbox = yield* launchSandbox(yield* testRunner, yield* dataDir, "net")
      const attempt = yield* sandbox.run(["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port} && cat <&3`], { timeoutMs: 5_000 })
      expect(attempt.exitCode).not.toBe(0)
      expect(out(attempt)).not.toContain("host-says-hello")
      const interfaces = yield* sandbox.run(["cat", "/proc/net/dev"])
      const names = out(interfaces).split("\n").slice(2).map((line) => line.split(":")[0]?.trim()).filter((n) => n !== undefined && n !== "")
      expect(names).toEqual(["lo"])
    })
  )

  it.scopedLive("stops a fork bomb at pids.max and reports the hit, the host staying responsive", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const sandbox = yield* launchSandbox(runner, yield* dataDir, "forkbomb", { resources: { cpuCores: 1, memoryMb: 256, pids: 64 } })
      const bomb = yield* sandbox.run(["bash", "-c", ":(){ :|:& };:"], { timeoutMs: 3_000 })
      expect(bomb.durationMs).toBeLessThan(20_000)
      const status = yield* runner.status(sandbox.handle)
      expect(status.pidsLimitHits).toBeGreaterThan(0)
      expect(status.pids.length).toBeLessThanOrEqual(64)
      const started = performance.now()
      const host = yield* Effect.promise(() => fs.promises.readFile("/proc/loadavg", "utf8"))
      expect(host).toMatch(/\d/)
      expect(performance.now() - started).toBeLessThan(1_000)
      yield* runner.stop(sandbox.handle)
      expect((yield* runner.status(sandbox.handle)).pids).toEqual([])
    })
  )

  it.scopedLive("OOM-kills a process allocating past the memory limit and counts it", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const sandbox = yield* launchSandbox(runner, yield* dataDir, "oom", { resources: { cpuCores: 1, memoryMb: 64, pids: 64 } })
      const before = yield* runner.status(sandbox.handle)
      const hog = yield* sandbox.sh("tail /dev/zero; echo survived $?", { timeoutMs: 30_000 })
      expect(hog.timedOut).toBe(false)
      expect(hog.oomKilled).toBe(true)
      expect(out(hog)).toBe("survived 137\n")
      const after = yield* runner.status(sandbox.handle)
      expect(after.oomKills).toBe(before.oomKills + 1)
      const direct = yield* sandbox.run(["tail", "/dev/zero"], { timeoutMs: 30_000 })
      expect(direct.signal).toBe("SIGKILL")
      expect(direct.oomKilled).toBe(true)
      const fine = yield* sandbox.run(["echo", "still-up"])
      expect(fine.oomKilled).toBe(false)
      expect(out(fine)).toBe("still-up\n")
    })
  )

  it.scopedLive("does not show one sandbox's processes to another", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const dir = yield* dataDir
      const a = yield* launchSandbox(runner, dir, "pa")
      const b = yield* launchSandbox(runner, dir, "pb")
      yield* a.run(["bash", "-c", "(exec -a marker-of-a sleep 300) >/dev/null 2>&1 &"])
      const inA = yield* a.sh("cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
      expect(out(inA)).toContain("marker-of-a")
      const inB = yield* b.sh("ls /proc | grep -E '^[0-9]+$' | wc -l; cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
      expect(out(inB)).not.toContain("marker-of-a")
      expect(Number(out(inB).split("\n")[0])).toBeLessThan(10)
    })
  )

  it.scopedLive("leaves no capabilities, sets no_new_privs, runs as a non-root user without a terminal", () =>
    Effect.gen(function* () {
      const sandbox = yield* launchSandbox(yield* testRunner, yield* dataDir, "caps")
      const status = out(yield* sandbox.run(["grep", "-E", "^(Cap|NoNewPrivs|Uid|Gid)", "/proc/self/status"]))
      for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) {
        expect(status).toMatch(new RegExp(`^${set}:\\s+0000000000000000$`, "m"))
      }
      expect(status).toMatch(/^NoNewPrivs:\s+1$/m)
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1])
      expect(uid).toBeGreaterThan(0)
      // the sandbox's own init process is just as bare
      const init = out(yield* sandbox.run(["grep", "-E", "^(CapBnd|CapEff|NoNewPrivs)", "/proc/2/status"]))
      expect(init).toMatch(/^CapBnd:\s+0000000000000000$/m)
      expect(init).toMatch(/^NoNewPrivs:\s+1$/m)
      const escalate = yield* sandbox.sh("touch /usr/evil; echo x > /etc/passwd; mount -t tmpfs none /tmp 2>/dev/null; id -u")
      expect(out(escalate).trim()).toBe(String(uid))
      expect(fs.existsSync("/usr/evil")).toBe(false)
      const terminal = yield* sandbox.sh("cut -d' ' -f7 /proc/self/stat; echo injected > /dev/tty")
      expect(out(terminal)).toBe("0\n")
      expect(terminal.exitCode).not.toBe(0)
      const hostname = yield* sandbox.run(["hostname"])
      expect(out(hostname).trim()).toBe(sandbox.spec.hostname)
    })
  )
})
