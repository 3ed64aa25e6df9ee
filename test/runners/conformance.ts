// The runner contract, written once and run unchanged against every runner (bwrap, containerd, …):
// lifecycle, exec, limits, isolation and escape attempts, snapshot and rollback, and what a sandbox is
// after the process that owned the runner was SIGKILLed. Each adapter's conformance-<name>.test.ts
// calls `runnerConformance` with its own factory, like Emmett's one contract suite per event store.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Scope } from "effect"
import { spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { beforeAll } from "vitest"
import { canonicalListing } from "../../src/runners/bwrap/workspace-copy.js"
import { ownOpenFilesMax } from "../../src/runners/open-files.js"
import type { RunnerError } from "../../src/runners/errors.js"
import type { ExecRequest, ExecResult, Runner, SandboxHandle, SandboxSpec } from "../../src/runners/runner.js"

export interface RunnerUnderTest {
  /** The runner's `kind`, also the name `containerd/runner-child.ts` builds it by. */
  readonly name: string
  /** A fresh runner on the tests' configuration (cgroup parent, namespace), released with the scope. */
  readonly makeRunner: Effect.Effect<Runner, never, Scope.Scope>
  /** Runs once per file before the tests (start a daemon, build an image); returns what every spec needs. */
  readonly prepare: () => Promise<Partial<SandboxSpec>>
  readonly prepareTimeoutMs: number
  /** A sandbox's state after the process owning its runner was SIGKILLed: bwrap's die with it, containers outlive it. */
  readonly afterRunnerKilled: "gone" | "running"
}

export interface TestSandbox {
  readonly handle: SandboxHandle
  readonly spec: SandboxSpec
  readonly run: (argv: ReadonlyArray<string>, options?: Omit<ExecRequest, "argv">) => Effect.Effect<ExecResult, RunnerError>
  readonly sh: (script: string, options?: Omit<ExecRequest, "argv">) => Effect.Effect<ExecResult, RunnerError>
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8")
const out = (result: ExecResult): string => text(result.stdout)
const readNumber = (file: string): number => Number(fs.readFileSync(file, "utf8").trim() || "NaN")
const uniqueId = (label: string): string => `c-${label}-${randomBytes(4).toString("hex")}`

const eventually = (check: () => boolean, timeoutMs = 5_000): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    for (let waited = 0; waited <= timeoutMs; waited += 20) {
      if (check()) return true
      yield* Effect.sleep("20 millis")
    }
    return check()
  })

/** A temporary data dir laid out like the daemon's (workspaces/ and state/ side by side), removed with the scope. */
const dataDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "hv-conformance-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const CHILD = fileURLToPath(new URL("./containerd/runner-child.ts", import.meta.url))
const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url))

export const runnerConformance = (target: RunnerUnderTest): void => {
  let base: Partial<SandboxSpec> = {}
  beforeAll(async () => {
    base = await target.prepare()
  }, target.prepareTimeoutMs)

  const specIn = (dir: string, id: string, overrides: Partial<SandboxSpec> = {}): SandboxSpec => ({
    id,
    hostname: id,
    workspaceDir: path.join(dir, "workspaces", id),
    stateDir: path.join(dir, "state", id),
    rootfs: { kind: "host" },
    resources: { cpuCores: 1, memoryMb: 256, pids: 128 },
    network: "none",
    env: {},
    ...base,
    ...overrides
  })

  const launch = (runner: Runner, dir: string, label: string, overrides: Partial<SandboxSpec> = {}) =>
    Effect.gen(function* () {
      const spec = specIn(dir, uniqueId(label), overrides)
      const created = yield* Effect.acquireRelease(runner.create(spec), (handle) => runner.destroy(handle).pipe(Effect.orDie))
      const handle = yield* runner.start(created)
      const run = (argv: ReadonlyArray<string>, options: Omit<ExecRequest, "argv"> = {}) => runner.exec(handle, { argv, ...options })
      const sandbox: TestSandbox = { handle, spec, run, sh: (script, options) => run(["/bin/sh", "-c", script], options) }
      return sandbox
    })

  const oneSandbox = (label: string, overrides: Partial<SandboxSpec> = {}) =>
    Effect.gen(function* () {
      const runner = yield* target.makeRunner
      return { runner, sandbox: yield* launch(runner, yield* dataDir, label, overrides) }
    })

  describe(`Runner conformance: ${target.name}`, () => {
    describe("lifecycle", () => {
      it.scopedLive("create gives a stopped sandbox, start a running one; the handle survives JSON", () =>
        Effect.gen(function* () {
          const runner = yield* target.makeRunner
          const dir = yield* dataDir
          const spec = specIn(dir, uniqueId("life"))
          const created = yield* Effect.acquireRelease(runner.create(spec), (h) => runner.destroy(h).pipe(Effect.orDie))
          expect(created).toMatchObject({ id: spec.id, runner: target.name, pid: null })
          expect(yield* runner.status(created)).toMatchObject({ state: "stopped", pids: [] })
          expect(fs.statSync(spec.workspaceDir).isDirectory()).toBe(true)
          expect((yield* Effect.flip(runner.create(spec)))._tag).toBe("SandboxExists")
          const started = yield* runner.start(created)
          expect(started.pid).toBeGreaterThan(0)
          const persisted = JSON.parse(JSON.stringify(started)) as SandboxHandle
          const status = yield* runner.status(persisted)
          expect(status.state).toBe("running")
          expect(status.pids.length).toBeGreaterThan(0)
          expect(out(yield* runner.exec(persisted, { argv: ["echo", "via-persisted-handle"] }))).toBe("via-persisted-handle\n")
          expect((yield* Effect.flip(runner.start(persisted)))._tag).toBe("SandboxStateConflict")
        })
      )

      it.scopedLive("pause freezes every process (a counter stops) and resume thaws them", () =>
        Effect.gen(function* () {
          const { runner, sandbox } = yield* oneSandbox("pause")
          expect(runner.capabilities.pause).toBe(true)
          const counter = path.join(sandbox.spec.workspaceDir, "counter")
          yield* sandbox.sh("(i=0; while :; do i=$((i+1)); echo $i > /workspace/counter.tmp; mv /workspace/counter.tmp /workspace/counter; sleep 0.01; done) >/dev/null 2>&1 &")
          expect(yield* eventually(() => fs.existsSync(counter) && readNumber(counter) > 3)).toBe(true)
          yield* runner.pause(sandbox.handle)
          expect((yield* runner.status(sandbox.handle)).state).toBe("paused")
          const frozenAt = readNumber(counter)
          yield* Effect.sleep("300 millis")
          expect(readNumber(counter)).toBe(frozenAt)
          expect((yield* Effect.flip(sandbox.run(["true"])))._tag).toBe("SandboxStateConflict")
          yield* runner.resume(sandbox.handle)
          expect((yield* runner.status(sandbox.handle)).state).toBe("running")
          expect(yield* eventually(() => readNumber(counter) > frozenAt + 3)).toBe(true)
        })
      )

      it.scopedLive("stop kills every process and refuses exec; stop is idempotent and start works again", () =>
        Effect.gen(function* () {
          const { runner, sandbox } = yield* oneSandbox("stop")
          yield* sandbox.sh("setsid sleep 300 >/dev/null 2>&1 & (sleep 300 &) >/dev/null 2>&1; true")
          expect((yield* runner.status(sandbox.handle)).pids.length).toBeGreaterThan(2)
          yield* runner.pause(sandbox.handle)
          yield* runner.stop(sandbox.handle)
          expect(yield* runner.status(sandbox.handle)).toMatchObject({ state: "stopped", pids: [] })
          expect((yield* Effect.flip(sandbox.run(["true"])))._tag).toBe("SandboxStateConflict")
          yield* runner.stop(sandbox.handle)
          const restarted = yield* runner.start(sandbox.handle)
          expect(out(yield* runner.exec(restarted, { argv: ["echo", "again"] }))).toBe("again\n")
        })
      )

      it.scopedLive("destroy removes state and workspace; status then says gone, exec fails, destroy again is fine", () =>
        Effect.gen(function* () {
          const runner = yield* target.makeRunner
          const spec = specIn(yield* dataDir, uniqueId("destroy"))
          const handle = yield* runner.start(yield* runner.create(spec))
          yield* runner.destroy(handle)
          expect(fs.existsSync(spec.workspaceDir)).toBe(false)
          expect(fs.existsSync(spec.stateDir)).toBe(false)
          expect(yield* runner.status(handle)).toEqual({ state: "gone", pids: [], memoryBytes: null, oomKills: 0, pidsLimitHits: 0 })
          expect((yield* Effect.flip(runner.exec(handle, { argv: ["true"] })))._tag).toBe("SandboxGone")
          yield* runner.destroy(handle)
        })
      )

      it.scopedLive("rejects another or an unknown runner's handle, a garbled one, and network modes it does not implement", () =>
        Effect.gen(function* () {
          const runner = yield* target.makeRunner
          const dir = yield* dataDir
          const other = target.name === "bwrap" ? "containerd" : "bwrap"
          for (const name of [other, "no-such-runner"]) {
            const foreign = yield* Effect.flip(runner.status({ id: "x", runner: name, pid: null, cgroup: "/", runnerState: {} }))
            expect(foreign._tag).toBe("InvalidHandle")
            expect(foreign.message).toContain(name)
          }
          const garbled = yield* Effect.flip(runner.stop({ id: "x", runner: target.name, pid: null, cgroup: "/", runnerState: { spec: 1 } }))
          expect(garbled._tag).toBe("InvalidHandle")
          // a runner either implements allowlist egress (through the network monitor) or says it does not
          const allowlist = yield* Effect.either(runner.create(specIn(dir, uniqueId("net"), { network: "allowlist" })))
          if (allowlist._tag === "Left") expect(allowlist.left._tag).toBe("NetworkModeUnsupported")
          else yield* runner.destroy(allowlist.right)
          const handle = yield* Effect.acquireRelease(runner.create(specIn(dir, uniqueId("real"))), (h) => runner.destroy(h).pipe(Effect.orDie))
          expect((yield* Effect.flip(runner.destroy({ ...handle, id: "someone-else" })))._tag).toBe("InvalidHandle")
        })
      )
    })

    describe("exec", () => {
      it.scopedLive("with admit: nothing of the command runs before the answer, nothing at all on a no, and the wait is not in durationMs", () =>
        Effect.gen(function* () {
          const { runner, sandbox } = yield* oneSandbox("admit")
          const marker = path.join(sandbox.spec.workspaceDir, "ran")
          const refused = yield* Effect.either(runner.exec(sandbox.handle, { argv: ["/bin/sh", "-c", "touch /workspace/ran"] }, { admit: Effect.succeed(false) }))
          expect(refused._tag === "Left" && refused.left._tag).toBe("ExecNotAdmitted")
          yield* Effect.sleep("200 millis")
          expect(fs.existsSync(marker)).toBe(false)
          let ranBeforeAnswer: boolean | null = null
          const admit = Effect.sleep("400 millis").pipe(
            Effect.zipRight(Effect.sync(() => (ranBeforeAnswer = fs.existsSync(marker)))),
            Effect.as(true)
          )
          const started = performance.now()
          const result = yield* runner.exec(sandbox.handle, { argv: ["/bin/sh", "-c", "touch /workspace/ran"] }, { admit })
          const wall = performance.now() - started
          expect(ranBeforeAnswer).toBe(false)
          expect(result.exitCode).toBe(0)
          expect(fs.existsSync(marker)).toBe(true)
          expect(wall).toBeGreaterThanOrEqual(400)
          expect(result.durationMs).toBeLessThan(wall - 300)
        })
      )

      it.scopedLive("runs argv without a shell, in /workspace by default, or in the cwd asked for", () =>
        Effect.gen(function* () {
          const { sandbox } = yield* oneSandbox("cwd")
          fs.mkdirSync(path.join(sandbox.spec.workspaceDir, "sub"))
          expect(out(yield* sandbox.run(["pwd"]))).toBe("/workspace\n")
          expect(out(yield* sandbox.run(["pwd"], { cwd: "sub" }))).toBe("/workspace/sub\n")
          expect(out(yield* sandbox.run(["pwd"], { cwd: "/tmp" }))).toBe("/tmp\n")
          expect(out(yield* sandbox.run(["echo", "$HOME", "*", "a b"]))).toBe("$HOME * a b\n")
          const missing = yield* sandbox.run(["pwd"], { cwd: "nope" })
          expect(missing.exitCode).toBe(125)
          expect(text(missing.stderr)).toContain("nope")
        })
      )

      it.scopedLive("gives the spec's env plus the request's, and nothing of the host's", () =>
        Effect.gen(function* () {
          const { sandbox } = yield* oneSandbox("env", { env: { FROM_SPEC: "spec", SHARED: "spec" } })
          const result = yield* sandbox.run(["env"], { env: { SHARED: "request", "WITH SPACE": "a=b c" } })
          const env = Object.fromEntries(out(result).trim().split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]))
          expect(env).toEqual({
            PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            HOME: "/workspace",
            FROM_SPEC: "spec",
            SHARED: "request",
            "WITH SPACE": "a=b c"
          })
          expect((yield* Effect.flip(sandbox.run(["env"], { env: { "A=B": "x" } })))._tag).toBe("InvalidExecRequest")
          expect((yield* Effect.flip(sandbox.run([])))._tag).toBe("InvalidExecRequest")
        })
      )

      it.scopedLive("feeds stdin bytes exactly; without stdin the process reads end of file", () =>
        Effect.gen(function* () {
          const { sandbox } = yield* oneSandbox("stdin")
          const bytes = randomBytes(300_000)
          const echoed = yield* sandbox.run(["cat"], { stdin: bytes, maxOutputBytes: 1_000_000 })
          expect(Buffer.from(echoed.stdout).equals(bytes)).toBe(true)
          const none = yield* sandbox.run(["cat"])
          expect(none).toMatchObject({ exitCode: 0, timedOut: false })
          expect(none.stdout.length).toBe(0)
          const empty = yield* sandbox.run(["wc", "-c"], { stdin: new Uint8Array(0) })
          expect(out(empty).trim()).toBe("0")
        })
      )

      it.scopedLive("reports exit codes, signals and stderr", () =>
        Effect.gen(function* () {
          const { sandbox } = yield* oneSandbox("status")
          expect((yield* sandbox.run(["true"])).exitCode).toBe(0)
          const three = yield* sandbox.sh("echo to-err >&2; exit 3")
          expect(three).toMatchObject({ exitCode: 3, signal: null, timedOut: false, oomKilled: false })
          expect(text(three.stderr)).toBe("to-err\n")
          expect((yield* sandbox.sh("exit 255")).exitCode).toBe(255)
          expect(yield* sandbox.sh("kill -TERM $$")).toMatchObject({ exitCode: null, signal: "SIGTERM" })
          const unknown = yield* sandbox.run(["no-such-program"])
          expect(unknown.exitCode).toBe(127)
          expect(unknown.durationMs).toBeGreaterThan(0)
          // whatever a command's status and stderr say, they are its result, never the runner's failure
          const forged = yield* sandbox.sh("echo 'hydravisor-launcher: cannot join cgroup /x/cgroup.procs' >&2; exit 125")
          expect([forged.exitCode, text(forged.stderr)]).toEqual([125, "hydravisor-launcher: cannot join cgroup /x/cgroup.procs\n"])
        })
      )

      it.scopedLive("kills the whole process tree on timeout", () =>
        Effect.gen(function* () {
          const { sandbox } = yield* oneSandbox("timeout")
          const result = yield* sandbox.sh("sleep 100 & (sleep 100 &) ; echo started; sleep 100", { timeoutMs: 300 })
          expect(result).toMatchObject({ timedOut: true, signal: "SIGKILL" })
          expect(out(result)).toBe("started\n")
          expect(result.durationMs).toBeLessThan(5_000)
          const left = yield* sandbox.sh("cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
          expect(out(left)).not.toContain("sleep 100")
          expect(yield* sandbox.run(["echo", "fine"])).toMatchObject({ exitCode: 0, timedOut: false })
        })
      )

      it.scopedLive("caps large output at maxOutputBytes and flags the truncation", () =>
        Effect.gen(function* () {
          const { sandbox } = yield* oneSandbox("output")
          const big = yield* sandbox.sh("head -c 10000000 /dev/zero; head -c 3000 /dev/zero >&2", { maxOutputBytes: 1_000_000 })
          expect(big).toMatchObject({ exitCode: 0, stdoutTruncated: true, stderrTruncated: false })
          expect(big.stdout.length).toBe(1_000_000)
          expect(big.stderr.length).toBe(3000)
          const exact = yield* sandbox.sh("head -c 1000 /dev/zero", { maxOutputBytes: 1000 })
          expect(exact).toMatchObject({ stdoutTruncated: false })
          expect(exact.stdout.length).toBe(1000)
          const byDefault = yield* sandbox.sh("head -c 2000000 /dev/zero")
          expect(byDefault.stdout.length).toBe(1024 * 1024)
          expect(byDefault.stdoutTruncated).toBe(true)
        })
      )

      it.scopedLive("returns when the command exits even if a background child keeps its output open", () =>
        Effect.gen(function* () {
          const { sandbox } = yield* oneSandbox("background")
          const began = performance.now()
          const result = yield* sandbox.sh("sleep 30 & echo parent-done")
          expect(result).toMatchObject({ exitCode: 0, timedOut: false })
          expect(out(result)).toBe("parent-done\n")
          expect(performance.now() - began).toBeLessThan(5_000)
        })
      )
    })

    describe("limits", () => {
      it.scopedLive("stops a fork bomb at the pids limit and counts the hits; the host stays responsive", () =>
        Effect.gen(function* () {
          const { runner, sandbox } = yield* oneSandbox("forkbomb", { resources: { cpuCores: 1, memoryMb: 256, pids: 64 } })
          const bomb = yield* sandbox.run(["bash", "-c", ":(){ :|:& };:"], { timeoutMs: 3_000 })
          expect(bomb.durationMs).toBeLessThan(20_000)
          const status = yield* runner.status(sandbox.handle)
          expect(status.pidsLimitHits).toBeGreaterThan(0)
          expect(status.pids.length).toBeLessThanOrEqual(64)
          const started = performance.now()
          expect(fs.readFileSync("/proc/loadavg", "utf8")).toMatch(/\d/)
          expect(performance.now() - started).toBeLessThan(1_000)
          yield* runner.stop(sandbox.handle)
          expect((yield* runner.status(sandbox.handle)).pids).toEqual([])
        })
      )

      it.scopedLive("OOM-kills a process allocating past the memory limit and reports it", () =>
        Effect.gen(function* () {
          const { runner, sandbox } = yield* oneSandbox("oom", { resources: { cpuCores: 1, memoryMb: 64, pids: 64 } })
          const before = yield* runner.status(sandbox.handle)
          const hog = yield* sandbox.sh("tail /dev/zero; echo survived $?", { timeoutMs: 30_000 })
          expect(hog).toMatchObject({ timedOut: false, oomKilled: true })
          expect(out(hog)).toBe("survived 137\n")
          expect((yield* runner.status(sandbox.handle)).oomKills).toBe(before.oomKills + 1)
          const direct = yield* sandbox.run(["tail", "/dev/zero"], { timeoutMs: 30_000 })
          expect(direct).toMatchObject({ signal: "SIGKILL", oomKilled: true })
          const fine = yield* sandbox.run(["echo", "still-up"])
          expect(fine.oomKilled).toBe(false)
          expect(out(fine)).toBe("still-up\n")
        })
      )

      it.scopedLive("limits open files to fileHandles in the sandbox's first process and every exec; nothing inside raises it", () =>
        Effect.gen(function* () {
          const { sandbox } = yield* oneSandbox("files", { resources: { cpuCores: 1, memoryMb: 256, pids: 64, fileHandles: 64 } })
          const limits = yield* sandbox.sh("echo $(ulimit -Sn) $(ulimit -Hn); grep 'open files' /proc/1/limits | tr -s ' ' | cut -d' ' -f4,5")
          expect(out(limits)).toBe("64 64\n64 64\n")
          const raise = yield* sandbox.sh("ulimit -n 128 2>/dev/null && echo raised || echo refused")
          expect(out(raise)).toBe("refused\n")
        })
      )

      it.scopedLive("gives a limit above the runner's own open-file limit as the runner's own, instead of failing the launch", () =>
        Effect.gen(function* () {
          const own = ownOpenFilesMax()
          const { sandbox } = yield* oneSandbox("files-max", { resources: { cpuCores: 1, memoryMb: 256, pids: 64, fileHandles: 1_048_576 } })
          const limits = yield* sandbox.sh("echo $(ulimit -Hn)")
          expect(out(limits)).toBe(`${own === Infinity || own >= 1_048_576 ? 1_048_576 : own}\n`)
        })
      )
    })

    describe("isolation and escape", () => {
      it.scopedLive("does not show the host's /root", () =>
        Effect.gen(function* () {
          const marker = `hv-conformance-${randomBytes(4).toString("hex")}`
          yield* Effect.acquireRelease(
            Effect.sync(() => fs.writeFileSync(path.join("/root", marker), "host-root-secret")),
            () => Effect.sync(() => fs.rmSync(path.join("/root", marker), { force: true }))
          )
          const { sandbox } = yield* oneSandbox("root")
          for (const probe of [`cat /root/${marker}`, `test -e /root/${marker}`, `ls -a /root | grep ${marker}`, `find / -xdev -name ${marker} 2>/dev/null | grep .`]) {
            const result = yield* sandbox.sh(probe)
            expect(result.exitCode, probe).not.toBe(0)
            expect(out(result), probe).not.toContain("secret")
          }
        })
      )

      it.scopedLive("cannot reach the data dir, its own state dir, or another sandbox's workspace", () =>
        Effect.gen(function* () {
          const runner = yield* target.makeRunner
          const dir = yield* dataDir
          fs.writeFileSync(path.join(dir, "secret.txt"), "data-dir-secret")
          const a = yield* launch(runner, dir, "a")
          const b = yield* launch(runner, dir, "b")
          fs.writeFileSync(path.join(b.spec.workspaceDir, "b-secret.txt"), "b-secret")
          for (const attempt of [
            `cat ${dir}/secret.txt`,
            `cat ${b.spec.workspaceDir}/b-secret.txt`,
            `ls ${dir}`,
            `ls ${a.spec.stateDir}`,
            "cat /workspace/../workspaces/*/b-secret.txt",
            "find / -xdev -name b-secret.txt 2>/dev/null",
            "cat /proc/1/cmdline | tr '\\0' ' '"
          ]) {
            const result = yield* a.sh(`${attempt}; true`)
            expect(out(result), attempt).not.toMatch(/secret/)
            expect(out(result), attempt).not.toContain(dir)
          }
          expect(out(yield* a.sh("echo mine > /workspace/f && cat /workspace/f"))).toBe("mine\n")
          expect(fs.readFileSync(path.join(a.spec.workspaceDir, "f"), "utf8")).toBe("mine\n")
        })
      )

      it.scopedLive("does not show one sandbox's processes to another", () =>
        Effect.gen(function* () {
          const runner = yield* target.makeRunner
          const dir = yield* dataDir
          const a = yield* launch(runner, dir, "pa")
          const b = yield* launch(runner, dir, "pb")
          yield* a.run(["bash", "-c", "(exec -a marker-of-a sleep 300) >/dev/null 2>&1 &"])
          expect(out(yield* a.sh("cat /proc/[0-9]*/cmdline | tr '\\0' ' '"))).toContain("marker-of-a")
          const inB = yield* b.sh("ls /proc | grep -E '^[0-9]+$' | wc -l; cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
          expect(out(inB)).not.toContain("marker-of-a")
          expect(Number(out(inB).split("\n")[0])).toBeLessThan(10)
          const signal = yield* b.sh("kill -9 -1; echo sent")
          expect(out(signal)).toContain("sent")
          expect(out(yield* a.sh("cat /proc/[0-9]*/cmdline | tr '\\0' ' '"))).toContain("marker-of-a")
        })
      )

      it.scopedLive("cannot connect to a TCP server on the host's 127.0.0.1; only lo exists", () =>
        Effect.gen(function* () {
          const server = yield* Effect.acquireRelease(
            Effect.async<net.Server>((resume) => {
              const s = net.createServer((socket) => socket.end("host-says-hello\n"))
              s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
            }),
            (s) => Effect.sync(() => s.close())
          )
          const port = (server.address() as net.AddressInfo).port
          const { sandbox } = yield* oneSandbox("net")
          const attempt = yield* sandbox.run(["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port} && cat <&3`], { timeoutMs: 5_000 })
          expect(attempt.exitCode).not.toBe(0)
          expect(out(attempt)).not.toContain("host-says-hello")
          const names = out(yield* sandbox.run(["cat", "/proc/net/dev"]))
            .split("\n")
            .slice(2)
            .map((line) => line.split(":")[0]?.trim())
            .filter((n) => n !== undefined && n !== "")
          expect(names).toEqual(["lo"])
        })
      )

      it.scopedLive("runs as a non-root user without capabilities, with no_new_privs and no terminal", () =>
        Effect.gen(function* () {
          const { sandbox } = yield* oneSandbox("caps")
          const status = out(yield* sandbox.run(["grep", "-E", "^(Cap|NoNewPrivs|Uid|Gid)", "/proc/self/status"]))
          for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) {
            expect(status).toMatch(new RegExp(`^${set}:\\s+0000000000000000$`, "m"))
          }
          expect(status).toMatch(/^NoNewPrivs:\s+1$/m)
          const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1])
          expect(uid).toBeGreaterThan(0)
          const escalate = yield* sandbox.sh("touch /usr/evil; echo x > /etc/passwd; mount -t tmpfs none /tmp 2>/dev/null; id -u")
          expect(out(escalate).trim()).toBe(String(uid))
          expect(fs.existsSync("/usr/evil")).toBe(false)
          expect((yield* sandbox.sh("test -e /usr/evil")).exitCode).not.toBe(0)
          const terminal = yield* sandbox.sh("cut -d' ' -f7 /proc/self/stat; echo injected > /dev/tty")
          expect(out(terminal)).toBe("0\n")
          expect(terminal.exitCode).not.toBe(0)
          expect(out(yield* sandbox.run(["hostname"])).trim()).toBe(sandbox.spec.hostname)
        })
      )
    })

    describe("snapshot and rollback", () => {
      it.scopedLive("copies the workspace without following links and hashes it canonically", () =>
        Effect.gen(function* () {
          const runner = yield* target.makeRunner
          const dir = yield* dataDir
          const sandbox = yield* launch(runner, dir, "snap")
          expect(runner.capabilities.snapshot).toBe(true)
          yield* sandbox.sh("mkdir -p src/deep && echo hello > src/deep/a.txt && printf x > b && chmod 750 b && ln -s /etc/shadow leak")
          const first = yield* runner.snapshot(sandbox.handle, path.join(dir, "snap-1"))
          const second = yield* runner.snapshot(sandbox.handle, path.join(dir, "snap-2"))
          expect(first.contentHash).toMatch(/^[0-9a-f]{64}$/)
          expect(second.contentHash).toBe(first.contentHash)
          const copy = path.join(dir, "snap-1")
          expect(fs.readFileSync(path.join(copy, "src/deep/a.txt"), "utf8")).toBe("hello\n")
          expect(fs.statSync(path.join(copy, "b")).mode & 0o777).toBe(0o750)
          expect(fs.readlinkSync(path.join(copy, "leak"))).toBe("/etc/shadow")
          const mode = (p: string) => fs.statSync(path.join(copy, p)).mode & 0o7777
          const sha = (s: string) => createHash("sha256").update(s).digest("hex")
          const expected = sha(
            canonicalListing([
              { path: "b", kind: "f", mode: 0o750, digest: sha("x") },
              { path: "leak", kind: "l", mode: 0o777, digest: "/etc/shadow" },
              { path: "src", kind: "d", mode: mode("src"), digest: "" },
              { path: "src/deep", kind: "d", mode: mode("src/deep"), digest: "" },
              { path: "src/deep/a.txt", kind: "f", mode: mode("src/deep/a.txt"), digest: sha("hello\n") }
            ])
          )
          expect(first.contentHash).toBe(expected)
          yield* sandbox.sh("echo changed > b")
          expect((yield* runner.snapshot(sandbox.handle, path.join(dir, "snap-3"))).contentHash).not.toBe(first.contentHash)
          expect((yield* Effect.flip(runner.snapshot(sandbox.handle, copy)))._tag).toBe("RunnerIoFailure")
          expect((yield* runner.status(sandbox.handle)).state).toBe("running")
        })
      )

      it.scopedLive("rolls back to a snapshot the sandbox user can keep working in", () =>
        Effect.gen(function* () {
          const runner = yield* target.makeRunner
          const dir = yield* dataDir
          const sandbox = yield* launch(runner, dir, "restore")
          yield* sandbox.sh("mkdir keep && echo v1 > keep/file && echo v1 > top")
          const snap = path.join(dir, "snap")
          const taken = yield* runner.snapshot(sandbox.handle, snap)
          yield* sandbox.sh("rm -r keep && echo v2 > top && echo new > extra")
          yield* runner.restore(sandbox.handle, snap)
          expect(out(yield* sandbox.sh("cat keep/file top; ls"))).toBe("v1\nv1\nkeep\ntop\n")
          expect((yield* sandbox.sh("echo v3 > keep/file && cat keep/file")).exitCode).toBe(0)
          yield* sandbox.sh("echo v1 > keep/file")
          expect((yield* runner.snapshot(sandbox.handle, path.join(dir, "again"))).contentHash).toBe(taken.contentHash)
          expect((yield* Effect.flip(runner.restore(sandbox.handle, path.join(dir, "no-such-snapshot"))))._tag).toBe("RunnerIoFailure")
          expect((yield* runner.status(sandbox.handle)).state).toBe("running")
        })
      )
    })

    describe("crash and reconcile", () => {
      it.scopedLive(`a sandbox whose runner process was SIGKILLed is then ${target.afterRunnerKilled}`, () =>
        Effect.gen(function* () {
          const runner = yield* target.makeRunner
          const spec = specIn(yield* dataDir, uniqueId("crash"))
          const child = yield* Effect.acquireRelease(
            Effect.sync(() =>
              spawn(process.execPath, ["--import", "tsx", CHILD, target.name, JSON.stringify(spec)], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] })
            ),
            (c) => Effect.sync(() => c.kill("SIGKILL"))
          )
          const line = yield* Effect.async<string, Error>((resume) => {
            let buffered = ""
            let errors = ""
            child.stdout.on("data", (chunk: Buffer) => {
              buffered += chunk.toString("utf8")
              if (buffered.includes("\n")) resume(Effect.succeed(buffered.slice(0, buffered.indexOf("\n"))))
            })
            child.stderr.on("data", (chunk: Buffer) => (errors += chunk.toString("utf8")))
            child.on("exit", (code) => resume(Effect.fail(new Error(`the runner process exited ${code}: ${errors}`))))
          })
          const handle = JSON.parse(line) as SandboxHandle
          yield* Effect.addFinalizer(() => runner.destroy(handle).pipe(Effect.orDie))
          expect((yield* runner.status(handle)).state).toBe("running")
          yield* Effect.async<void>((resume) => {
            child.once("exit", () => resume(Effect.void))
            child.kill("SIGKILL")
          })
          const settled = yield* Effect.gen(function* () {
            for (let waited = 0; waited < 5_000; waited += 50) {
              const status = yield* runner.status(handle)
              // a dying sandbox's last processes take a moment to leave its cgroup
              if (status.state === target.afterRunnerKilled && (status.state === "running" || status.pids.length === 0)) return status
              yield* Effect.sleep("50 millis")
            }
            return yield* runner.status(handle)
          })
          expect(settled.state).toBe(target.afterRunnerKilled)
          if (target.afterRunnerKilled === "running") {
            expect(out(yield* runner.exec(handle, { argv: ["echo", "survived-its-runner"] }))).toBe("survived-its-runner\n")
          } else {
            expect(settled.pids).toEqual([])
            expect((yield* Effect.flip(runner.exec(handle, { argv: ["true"] })))._tag).toBe("SandboxGone")
          }
          yield* runner.destroy(handle)
          expect((yield* runner.status(handle)).state).toBe("gone")
        })
      )
    })
  })
}
