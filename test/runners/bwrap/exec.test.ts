// Runner.exec against a real bwrap sandbox: working directory, environment, stdin, exit status,
// timeouts that take the whole process tree down, and output caps.
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { cgroupPathsOf, dataDir, launchSandbox, out, testRunner, text } from "./sandbox-fixture.js"

const oneSandbox = (label: string, env: Record<string, string> = {}) =>
  Effect.gen(function* () {
    return yield* launchSandbox(yield* testRunner, yield* dataDir, label, { env })
  })

describe("Runner.exec (bwrap)", () => {
  it.scopedLive("runs argv without a shell, in /workspace by default, or in the cwd asked for", () =>
    Effect.gen(function* () {
      const sandbox = yield* oneSandbox("cwd")
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
      const sandbox = yield* oneSandbox("env", { FROM_SPEC: "spec", SHARED: "spec" })
      const result = yield* sandbox.run(["env"], { env: { SHARED: "request", "WITH SPACE": "a=b c" } })
      const env = Object.fromEntries(out(result).trim().split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]))
      expect(env).toEqual({
        PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        HOME: "/workspace",
        FROM_SPEC: "spec",
        SHARED: "request",
        "WITH SPACE": "a=b c"
      })
      const invalid = yield* Effect.flip(sandbox.run(["env"], { env: { "A=B": "x" } }))
      expect(invalid._tag).toBe("InvalidExecRequest")
    })
  )

  it.scopedLive("leaves no exec cgroup behind: after commands, refused requests, withdrawn and admitted execs", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const sandbox = yield* launchSandbox(runner, yield* dataDir, "execcg")
      const { tracking } = yield* cgroupPathsOf(sandbox.handle)
      const execCgroups = () => fs.readdirSync(tracking, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name.startsWith("exec-")).map((e) => e.name)
      expect((yield* sandbox.run(["true"])).exitCode).toBe(0)
      expect((yield* Effect.flip(sandbox.run(["true", "a\0b"])))._tag).toBe("InvalidExecRequest")
      expect((yield* Effect.flip(runner.exec(sandbox.handle, { argv: ["true", "a\0b"] }, { admit: Effect.succeed(true) })))._tag).toBe("InvalidExecRequest")
      expect((yield* Effect.flip(runner.exec(sandbox.handle, { argv: ["true"] }, { admit: Effect.succeed(false) })))._tag).toBe("ExecNotAdmitted")
      expect((yield* runner.exec(sandbox.handle, { argv: ["true"] }, { admit: Effect.succeed(true) })).exitCode).toBe(0)
      expect(execCgroups()).toEqual([])
    })
  )

  it.scopedLive("a launcher that cannot join the exec cgroup fails the exec; a command that only says so is its result", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const sandbox = yield* launchSandbox(runner, yield* dataDir, "joinfail")
      const { tracking } = yield* cgroupPathsOf(sandbox.handle)
      const execCgroups = () => fs.readdirSync(tracking, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name.startsWith("exec-")).map((e) => e.name)
      // the exec cgroup made for this exec goes away while the launcher waits for its go
      const removeExecCgroup = Effect.sync(() => {
        for (const name of execCgroups()) fs.rmdirSync(path.join(tracking, name))
        return true
      })
      const failed = yield* Effect.flip(runner.exec(sandbox.handle, { argv: ["true"] }, { admit: removeExecCgroup }))
      expect(failed._tag).toBe("CgroupFailure")
      expect(failed.message).toContain("cannot join cgroup")
      const forged = "echo 'hydravisor-launcher: cannot join cgroup /x/cgroup.procs' >&2; exit 125"
      for (const admit of [Effect.succeed(true), undefined]) {
        const result = yield* runner.exec(sandbox.handle, { argv: ["/bin/sh", "-c", forged] }, admit === undefined ? {} : { admit })
        expect([result.exitCode, text(result.stderr)]).toEqual([125, "hydravisor-launcher: cannot join cgroup /x/cgroup.procs\n"])
      }
      expect(execCgroups()).toEqual([])
    })
  )

  it.scopedLive("feeds stdin bytes exactly", () =>
    Effect.gen(function* () {
      const sandbox = yield* oneSandbox("stdin")
      const bytes = randomBytes(300_000)
      const echoed = yield* sandbox.run(["cat"], { stdin: bytes, maxOutputBytes: 1_000_000 })
      expect(Buffer.from(echoed.stdout).equals(bytes)).toBe(true)
      const none = yield* sandbox.run(["cat"])
      expect(none.stdout.length).toBe(0)
      expect(none.exitCode).toBe(0)
    })
  )

  it.scopedLive("reports exit codes, signals and stderr", () =>
    Effect.gen(function* () {
      const sandbox = yield* oneSandbox("status")
      expect((yield* sandbox.run(["true"])).exitCode).toBe(0)
      const three = yield* sandbox.sh("echo to-err >&2; exit 3")
      expect(three).toMatchObject({ exitCode: 3, signal: null, timedOut: false, oomKilled: false })
      expect(text(three.stderr)).toBe("to-err\n")
      expect((yield* sandbox.sh("exit 255")).exitCode).toBe(255)
      const killed = yield* sandbox.sh("kill -TERM $$")
      expect(killed).toMatchObject({ exitCode: null, signal: "SIGTERM" })
      const unknown = yield* sandbox.run(["no-such-program"])
      expect(unknown.exitCode).toBe(127)
      expect(unknown.durationMs).toBeGreaterThan(0)
    })
  )

  it.scopedLive("kills the whole process tree on timeout", () =>
    Effect.gen(function* () {
      const runner = yield* testRunner
      const sandbox = yield* oneSandbox("timeout")
      const result = yield* sandbox.sh("sleep 100 & (sleep 100 &) ; echo started; sleep 100", { timeoutMs: 300 })
      expect(result.timedOut).toBe(true)
      expect(result.signal).toBe("SIGKILL")
      expect(out(result)).toBe("started\n")
      expect(result.durationMs).toBeLessThan(5_000)
      const status = yield* runner.status(sandbox.handle)
      expect(status.pids.length).toBe(3)
      const after = yield* sandbox.run(["echo", "fine"])
      expect(after).toMatchObject({ exitCode: 0, timedOut: false })
    })
  )

  it.scopedLive("caps large output at maxOutputBytes and flags the truncation", () =>
    Effect.gen(function* () {
      const sandbox = yield* oneSandbox("output")
      const big = yield* sandbox.sh("head -c 10000000 /dev/zero; head -c 3000 /dev/zero >&2", { maxOutputBytes: 1_000_000 })
      expect(big.exitCode).toBe(0)
      expect(big.stdout.length).toBe(1_000_000)
      expect(big.stdoutTruncated).toBe(true)
      expect(big.stderr.length).toBe(3000)
      expect(big.stderrTruncated).toBe(false)
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
      const sandbox = yield* oneSandbox("background")
      const result = yield* sandbox.sh("sleep 30 & echo parent-done")
      expect(result).toMatchObject({ exitCode: 0, timedOut: false })
      expect(out(result)).toBe("parent-done\n")
      expect(result.durationMs).toBeLessThan(5_000)
    })
  )
})
