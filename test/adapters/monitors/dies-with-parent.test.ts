// A helper a monitor starts dies with the daemon even when the daemon is SIGKILLed (no finalizer
// runs): the connect tracer of a sandbox that is gone used to live on, orphaned, for good.
import { spawn } from "node:child_process"
import { describe, expect, it } from "vitest"

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Starts a node "daemon" that starts `sleep` (wrapped or not), SIGKILLs the daemon, and says if sleep lives on. */
const orphanSurvives = async (wrapped: boolean) => {
  const script = `
    const { spawn } = require("node:child_process")
    import(${JSON.stringify(new URL("../../../src/adapters/monitors/dies-with-parent.ts", import.meta.url).pathname)}).then(({ diesWithParent }) => {
      const [file, args] = ${wrapped} ? diesWithParent("sleep", ["1000"]) : ["sleep", ["1000"]]
      const child = spawn(file, args, { stdio: "ignore" })
      setTimeout(() => process.stdout.write(String(child.pid) + "\\n"), 300)
    })`
  const daemon = spawn(process.execPath, ["--import", "tsx", "-e", script], { stdio: ["ignore", "pipe", "inherit"] })
  const pid = await new Promise<number>((resolve, reject) => {
    daemon.stdout.on("data", (chunk: Buffer) => resolve(Number(chunk.toString().trim())))
    daemon.once("exit", (code) => reject(new Error(`daemon exited early (${code})`)))
  })
  expect(alive(pid)).toBe(true)
  daemon.kill("SIGKILL")
  await new Promise((resolve) => daemon.once("exit", resolve))
  for (let i = 0; i < 40 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 50))
  const survived = alive(pid)
  if (survived) process.kill(pid, "SIGKILL")
  return survived
}

describe("diesWithParent", () => {
  it("a wrapped helper is killed with its SIGKILLed parent; an unwrapped one is orphaned (the bug it fixes)", async () => {
    expect(await orphanSurvives(true)).toBe(false)
    expect(await orphanSurvives(false)).toBe(true)
  }, 30_000)
})
