// Acceptance of issue 9 through the real CLI, daemon, containerd and ledger: the daemon is killed
// with SIGKILL while containerd containers run; the restarted daemon keeps the one containerd still
// runs (and execs in it), records the one that died meanwhile as dead, and loses or repeats no record.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { exited, pidOfDaemon, stopDaemons } from "../support/cli-session.js"
import { CONTAINERD_TEMPLATE, containerdSession, killTask, prepareContainerd, removeLeftoverContainers, taskStatus } from "../support/containerd-session.js"

beforeAll(prepareContainerd, 600_000)
afterAll(async () => {
  await stopDaemons()
  removeLeftoverContainers()
})

describe("the daemon with containerd sandboxes", () => {
  it("after SIGKILL, the restarted daemon keeps the running container and records the dead one; nothing lost or duplicated", async () => {
    const { env, hv, records } = containerdSession()
    const launch = async (name: string) => {
      const r = await hv("launch", "--template", CONTAINERD_TEMPLATE, "--name", name, "--json")
      expect(r.code, r.stderr).toBe(0)
      return JSON.parse(r.stdout).id as string
    }
    const kept = await launch("kept")
    const doomed = await launch("doomed")
    const wrote = await hv("exec", "kept", "--", "sh", "-c", "echo before > note.txt")
    expect(wrote.code, wrote.stderr).toBe(0)
    expect((await hv("exec", "doomed", "--", "true")).code).toBe(0)
    const before = records()

    const pid = await pidOfDaemon(env)
    process.kill(pid, "SIGKILL")
    expect(await exited(pid)).toBe(true)
    // containerd keeps both containers running without the daemon; one then dies behind its back.
    expect(taskStatus(kept)).toBe("RUNNING")
    expect(taskStatus(doomed)).toBe("RUNNING")
    killTask(doomed)
    for (let i = 0; i < 100 && taskStatus(doomed) === "RUNNING"; i++) await new Promise((r) => setTimeout(r, 100))
    expect(taskStatus(doomed)).toBe("STOPPED")

    const listed = await hv("list", "--json")
    expect(listed.code, listed.stderr).toBe(0)
    const states = Object.fromEntries(JSON.parse(listed.stdout).map((s: { name: string; state: string }) => [s.name, s.state]))
    expect(states).toEqual({ kept: "running", doomed: "failed" })
    expect(readFileSync(join(env.HYDRAVISOR_DATA_DIR, "daemon.log"), "utf8")).toContain("reconciled: 1 alive, 1 found dead, 0 interrupted")

    const read = await hv("exec", "kept", "--", "sh", "-c", "cat note.txt; echo after >> note.txt; cat note.txt")
    expect(read.code, read.stderr).toBe(0)
    expect(read.stdout).toBe("before\nbefore\nafter\n")

    const after = records()
    // Every record acknowledged before the kill is there once, unchanged and in place.
    expect(after.slice(0, before.length)).toEqual(before)
    const ids = after.map((r) => r.id)
    expect(new Set(ids).size).toBe(ids.length)
    const hashes = after.map((r) => r.hash)
    expect(new Set(hashes).size).toBe(hashes.length)
    const found = after.filter((r) => r.type === "SandboxFoundDead")
    expect(found.map((r) => r.stream)).toEqual([`sandbox-${doomed}`])
    expect(after.slice(before.length).filter((r) => r.stream === `sandbox-${kept}`).map((r) => r.type)).toEqual(["CommandStarted", "CommandExecuted"])
    const verified = await hv("audit", "verify", "--full", "--json")
    expect(verified.code, verified.stderr).toBe(0)
    expect(JSON.parse(verified.stdout).ok).toBe(true)

    expect((await hv("stop", "kept")).code).toBe(0)
    expect(taskStatus(kept)).toBe(null)
    for (const name of ["kept", "doomed"]) expect((await hv("destroy", name)).code).toBe(0)
  }, 240_000)
})
