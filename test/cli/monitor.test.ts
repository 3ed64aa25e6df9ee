// `hydravisor monitor` through the real CLI and daemon: two python-dev sandboxes (bwrap, with the
// daemon's file, process and network monitors), a command that writes a file and execs /bin/true, a
// refused `sudo`, then what was recorded, selected by sandbox, type, time and alert level, and followed live.
import { spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { projectRoot } from "../support/cli.js"
import { session, stopDaemons } from "../support/cli-session.js"

afterAll(stopDaemons)

interface Line {
  readonly id: string
  readonly at: string
  readonly stream: string
  readonly type: string
  readonly sandboxId: string | null
  readonly sandbox: string | null
  readonly data: Record<string, unknown>
}

const jsonLines = (stdout: string): Array<Line> =>
  stdout
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Line)

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

const { env, hv, records } = session()

interface StoredRecord {
  readonly id: string
  readonly stream: string
  readonly type: string
  readonly data: Record<string, unknown>
}

/** Waits (polling the stored ledger) until `found` holds; monitors record after the command returns. */
const recorded = async (found: (rs: Array<StoredRecord>) => boolean, what: string) => {
  for (const started = Date.now(); Date.now() - started < 60_000; await new Promise((r) => setTimeout(r, 250))) {
    if (found(records() as Array<StoredRecord>)) return
  }
  throw new Error(`not recorded within 60 s: ${what}`)
}

const isFile = (r: StoredRecord, path: string) => r.type === "FileChanged" && r.data["path"] === path

let watchedId = ""

beforeAll(async () => {
  for (const name of ["watched", "bystander"]) {
    const launched = await hv("launch", "--template", "python-dev", "--name", name)
    expect(launched.code, launched.stderr).toBe(0)
  }
  expect((await hv("exec", "watched", "--", "sh", "-c", "echo hi > a.txt; /bin/true")).code).toBe(0)
  expect((await hv("exec", "bystander", "--", "sh", "-c", "echo other > a.txt; /bin/true")).code).toBe(0)
  const refused = await hv("exec", "watched", "--", "sudo", "true")
  expect(refused.code).not.toBe(0)
  expect(refused.stderr).toContain("sudo is blocked")
  watchedId = String(records().find((r: StoredRecord) => r.type === "SandboxRequested" && r.data["name"] === "watched")?.data["sandboxId"])
  await recorded((rs) => rs.filter((r) => isFile(r, "a.txt")).length === 2, "FileChanged a.txt in both sandboxes")
  await recorded(
    (rs) => rs.some((r) => r.stream === `observations-${watchedId}` && r.type === "ProcessStarted" && JSON.stringify(r.data["argv"]).includes('["/bin/true"]')),
    "ProcessStarted /bin/true"
  )
}, 300_000)

describe("hydravisor monitor", () => {
  it("--type files --json prints the watched sandbox's FileChanged for a.txt with the SHA-256 of what was written", async () => {
    const r = await hv("monitor", "--sandbox", "watched", "--type", "files", "--json")
    expect(r.code, r.stderr).toBe(0)
    const lines = jsonLines(r.stdout)
    expect(lines.every((l) => l.type === "FileChanged" && l.sandbox === "watched" && l.sandboxId === watchedId)).toBe(true)
    const changes = lines.filter((l) => l.data["path"] === "a.txt")
    expect(changes).toHaveLength(1)
    expect(changes[0]!.data).toMatchObject({ change: "created", size: 3, sha256: sha256("hi\n"), sandboxId: watchedId })
    expect(changes[0]!.stream).toBe(`observations-${watchedId}`)
  }, 120_000)

  it("--type processes shows /bin/true exec'd inside the sandbox, and its exit with 0", async () => {
    const r = await hv("monitor", "--sandbox", "watched", "--type", "processes", "--json")
    expect(r.code, r.stderr).toBe(0)
    const lines = jsonLines(r.stdout)
    expect(lines.every((l) => l.type === "ProcessStarted" || l.type === "ProcessExited")).toBe(true)
    const started = lines.filter((l) => l.type === "ProcessStarted" && JSON.stringify(l.data["argv"]) === '["/bin/true"]')
    expect(started).toHaveLength(1)
    const exited = lines.find((l) => l.type === "ProcessExited" && l.data["pid"] === started[0]!.data["pid"])
    expect(exited?.data).toMatchObject({ exitCode: 0, signal: null })
    const text = await hv("monitor", "--sandbox", "watched", "--type", "ProcessStarted")
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/watched {2}ProcessStarted {2}pid \d+ \(parent \d+, uid \d+\): \/bin\/true\n/)
  }, 120_000)

  it("--since keeps events at or after the time given: a duration back from now, or an RFC 3339 time", async () => {
    const recent = jsonLines((await hv("monitor", "--sandbox", "watched", "--type", "files", "--since", "1h", "--json")).stdout)
    const created = recent.find((l) => l.data["path"] === "a.txt")
    expect(created).toBeDefined()
    const at = Date.parse(created!.at)
    const from = async (ms: number) => jsonLines((await hv("monitor", "--type", "files", "--since", new Date(ms).toISOString(), "--json")).stdout).map((l) => l.id)
    expect(await from(at)).toContain(created!.id)
    expect(await from(at + 1)).not.toContain(created!.id)
    const future = await hv("monitor", "--since", new Date(Date.now() + 86_400_000).toISOString())
    expect(future).toMatchObject({ code: 0, stdout: "", stderr: "no recorded events match\n" })
  }, 120_000)

  it("--sandbox keeps out other sandboxes' events; without it both a.txt changes show", async () => {
    const all = jsonLines((await hv("monitor", "--type", "files", "--json")).stdout).filter((l) => l.data["path"] === "a.txt")
    expect(all.map((l) => [l.sandbox, l.data["sha256"]]).sort()).toEqual([
      ["bystander", sha256("other\n")],
      ["watched", sha256("hi\n")]
    ])
    const byId = jsonLines((await hv("monitor", "--sandbox", watchedId, "--type", "files", "--json")).stdout)
    expect(byId.map((l) => l.data["sha256"])).toEqual([sha256("hi\n")])
  }, 120_000)

  it("--alert-on suspicious-activity shows the refused sudo and nothing routine; --alert-on high leaves refusals out", async () => {
    const r = await hv("monitor", "--sandbox", "watched", "--alert-on", "suspicious-activity", "--json")
    expect(r.code, r.stderr).toBe(0)
    const lines = jsonLines(r.stdout)
    expect(lines.map((l) => l.type)).toEqual(["CommandRejected"])
    expect(lines[0]!.data).toMatchObject({ command: "Exec", rejection: "PolicyRefused", input: { argv: ["sudo", "true"] } })
    expect(String(lines[0]!.data["reason"])).toContain("commands.blocked")
    const text = await hv("monitor", "--sandbox", "watched", "--alert-on", "suspicious-activity")
    expect(text.stdout).toMatch(/watched {2}CommandRejected {2}Exec refused: policy restricted: .*sudo is blocked/)
    const high = await hv("monitor", "--sandbox", "watched", "--alert-on", "high", "--json")
    expect(high).toMatchObject({ code: 0, stdout: "" })
  }, 120_000)

  it("a bad --type or --since (a time without its offset too) exits 2 with one line naming the option", async () => {
    const badType = await hv("monitor", "--type", "files,Bogus")
    expect(badType).toMatchObject({ code: 2, stdout: "" })
    expect(badType.stderr.trimEnd().split("\n")).toEqual([
      'hydravisor: --type "Bogus": not an event type or group; groups: files, processes, network, cpu, monitors, policy, commands, lifecycle; types: see docs/events.md'
    ])
    const badSince = await hv("monitor", "--since", "yesterday")
    expect(badSince).toMatchObject({ code: 2, stdout: "" })
    expect(badSince.stderr.trimEnd().split("\n")).toEqual([
      'hydravisor: --since "yesterday": give an RFC 3339 time (2026-11-23T10:00:00Z) or a duration such as 30s, 10m, 2h, 7d'
    ])
    const noOffset = await hv("monitor", "--since", "2026-11-23T10:00:00")
    expect(noOffset.code).toBe(2)
    expect(noOffset.stderr).toContain('--since "2026-11-23T10:00:00": give an RFC 3339 time')
  }, 120_000)

  it("--real-time --json, started before a command, prints its events as JSON lines while it keeps running", async () => {
    const follower = spawn(process.execPath, ["--import", "tsx", resolve(projectRoot, "src/main.ts"), "monitor", "--sandbox", "watched", "--real-time", "--json"], {
      cwd: projectRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", ...env }
    })
    let stdout = ""
    let stderr = ""
    follower.stdout.on("data", (c: Buffer) => (stdout += c.toString()))
    follower.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
    const closed = new Promise<void>((done) => follower.on("close", () => done()))
    const until = async (what: string, found: (lines: Array<Line>) => boolean) => {
      for (const started = Date.now(); !found(jsonLines(stdout.slice(0, stdout.lastIndexOf("\n") + 1))); await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() - started > 60_000 || follower.exitCode !== null) throw new Error(`monitor --real-time did not print ${what}; stderr: ${stderr}`)
      }
    }
    try {
      // Caught up once it has printed the refusal, the last record of the sandbox so far.
      await until("the recorded events", (lines) => lines.some((l) => l.type === "CommandRejected"))
      const before = new Set(jsonLines(stdout.slice(0, stdout.lastIndexOf("\n") + 1)).map((l) => l.id))
      expect((await hv("exec", "watched", "--", "sh", "-c", "echo live > live.txt; /bin/true")).code).toBe(0)
      const expected = ["CommandStarted", "ProcessStarted", "ProcessExited", "CommandExecuted", "FileChanged"]
      await until("the command's events", (lines) => expected.every((type) => lines.some((l) => !before.has(l.id) && l.type === type)))
      expect(follower.exitCode).toBeNull()
      const fresh = jsonLines(stdout.slice(0, stdout.lastIndexOf("\n") + 1)).filter((l) => !before.has(l.id))
      expect(fresh.every((l) => l.sandbox === "watched")).toBe(true)
      const types = fresh.map((l) => l.type)
      expect(types.indexOf("CommandStarted")).toBeLessThan(types.indexOf("CommandExecuted"))
      expect(fresh.find((l) => l.type === "FileChanged")?.data).toMatchObject({ path: "live.txt", sha256: sha256("live\n") })
      expect(fresh.find((l) => l.type === "CommandExecuted")?.data).toMatchObject({ argv: ["sh", "-c", "echo live > live.txt; /bin/true"], exitCode: 0 })
    } finally {
      follower.kill("SIGTERM")
      await closed
    }
  }, 180_000)
})
