// Acceptance of issue 4 through the real CLI, daemon, bwrap runner and ledger: a scripted session,
// kill -9 of the daemon and reconciliation, SIGTERM, and bad input.
import { afterAll, describe, expect, it } from "vitest"
import { chownSync, mkdirSync } from "node:fs"
import { createServer } from "node:net"
import { socketPath } from "../../src/adapters/daemon/paths.js"
import { exited, pidOfDaemon, session, stopDaemons } from "../support/cli-session.js"

afterAll(stopDaemons)

describe("a scripted sandbox session through the CLI", () => {
  it("launch, 20 execs, stop, destroy: the ledger verifies and holds every command with its exit code, in order", async () => {
    const { hv, records } = session()
    expect((await hv("launch", "--template", "research-env", "--name", "scripted")).code).toBe(0)
    for (let i = 0; i < 20; i++) {
      const r = await hv("exec", "scripted", "--", "sh", "-c", `echo run ${i}; exit ${i}`)
      expect(r.code).toBe(i)
      expect(r.stdout).toBe(`run ${i}\n`)
    }
    expect((await hv("stop", "scripted")).code).toBe(0)
    expect((await hv("destroy", "scripted")).code).toBe(0)
    const verified = await hv("audit", "verify", "--full", "--json")
    expect(verified.code).toBe(0)
    expect(JSON.parse(verified.stdout).ok).toBe(true)
    const sandboxRecords = records().filter((r) => r.stream.startsWith("sandbox-"))
    const executed = sandboxRecords.filter((r) => r.type === "CommandExecuted")
    expect(executed.map((r) => r.data.exitCode)).toEqual(Array.from({ length: 20 }, (_, i) => i))
    const types = sandboxRecords.map((r) => r.type)
    expect(types.indexOf("SandboxStopped")).toBeGreaterThan(types.lastIndexOf("CommandExecuted"))
    expect(types[types.length - 1]).toBe("SandboxDestroyed")
  }, 180_000)
})

describe("the daemon", () => {
  it("after kill -9 while a sandbox runs, the restarted daemon records it found dead; nothing lost or duplicated", async () => {
    const { env, hv, records } = session()
    expect((await hv("launch", "--template", "research-env", "--name", "victim")).code).toBe(0)
    expect((await hv("exec", "victim", "--", "true")).code).toBe(0)
    const before = records()
    process.kill(await pidOfDaemon(env), "SIGKILL")
    const listed = await hv("list", "--json")
    expect(listed.code).toBe(0)
    expect(JSON.parse(listed.stdout).find((s: { name: string }) => s.name === "victim").state).not.toBe("running")
    const after = records()
    expect(after.slice(0, before.length)).toEqual(before)
    const ids = after.map((r) => r.id)
    expect(new Set(ids).size).toBe(ids.length)
    expect(after.filter((r) => r.type === "SandboxFoundDead").length).toBe(1)
    expect((await hv("audit", "verify", "--json")).code).toBe(0)
  }, 120_000)

  it("on SIGTERM stops every sandbox, recorded, and exits", async () => {
    const { env, hv, records } = session()
    expect((await hv("launch", "--template", "research-env", "--name", "graceful")).code).toBe(0)
    const pid = await pidOfDaemon(env)
    process.kill(pid, "SIGTERM")
    expect(await exited(pid)).toBe(true)
    const stopped = records().filter((r) => r.type === "SandboxStopped")
    expect(stopped.length).toBe(1)
    expect(stopped[0].data.reason).toContain("daemon shutting down")
  }, 120_000)
})

describe("bad input", () => {
  it("each gives one clear line, and a CommandRejected where the command reached the domain", async () => {
    const { hv, records } = session()
    const unknown = await hv("launch", "--template", "no-such-template", "--name", "x")
    expect(unknown.code).not.toBe(0)
    expect(unknown.stderr).toContain("no template named 'no-such-template'; available: nodejs-sandbox, python-dev, research-env, shared-dev")
    const badName = await hv("launch", "--template", "research-env", "--name", "Bad Name!")
    expect(badName.code).not.toBe(0)
    expect(badName.stderr).toContain("invalid sandbox name 'Bad Name!'")
    const tooBig = await hv("launch", "--template", "research-env", "--name", "huge", "--memory", "100000")
    expect(tooBig.code).not.toBe(0)
    expect(tooBig.stderr).toContain("exceeds security.max_memory_gb")
    expect((await hv("launch", "--template", "research-env", "--name", "halted")).code).toBe(0)
    expect((await hv("stop", "halted")).code).toBe(0)
    const stoppedExec = await hv("exec", "halted", "--", "true")
    expect(stoppedExec.code).not.toBe(0)
    expect(stoppedExec.stderr).toContain("not running")
    const rejected = records().filter((r) => r.type === "CommandRejected")
    expect(rejected.length).toBeGreaterThanOrEqual(3)
  }, 120_000)

  it("refuses a daemon socket owned by another user", async () => {
    const { env, hv } = session()
    const socket = socketPath(env.HYDRAVISOR_DATA_DIR, { ...process.env, ...env })
    mkdirSync(env.HYDRAVISOR_RUNTIME_DIR, { recursive: true, mode: 0o700 })
    const server = createServer()
    await new Promise<void>((r) => server.listen(socket, r))
    chownSync(socket, 65534, 65534)
    const r = await hv("list")
    server.close()
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(`${socket} is owned by uid 65534, not by you (uid 0)`)
  })
})
