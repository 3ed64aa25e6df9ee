// Acceptance of issue 3: a corrupt or truncated database, a wrong key file and an unreadable data
// dir each give one line naming the file and the problem, and nothing is overwritten.
import { describe, expect, it, beforeAll } from "vitest"
import { chmodSync, readFileSync, truncateSync, writeFileSync, statSync } from "node:fs"
import { generateKeyPairSync, createHash } from "node:crypto"
import { join } from "node:path"
import { Effect } from "effect"
import { cpSync } from "node:fs"
import { ledgerFile, tempDir, writeEvents } from "../support/ledger-fixture.js"
import { runCli } from "../support/cli.js"
import { readRows, rewriteRows } from "../support/tamper.js"

let good: string
const digest = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex")
const copyOfGood = () => {
  const dir = join(tempDir("hv-bad-"), "data")
  cpSync(good, dir, { recursive: true })
  return dir
}
const oneLine = (stderr: string) => stderr.trim().split("\n").filter((l) => !l.startsWith("npm warn"))

beforeAll(async () => {
  good = join(tempDir("hv-good-"), "data")
  await Effect.runPromise(writeEvents(good, 40))
})

describe("bad input to the ledger verbs", () => {
  it("a file that is not a database: one line naming it, nothing changed", async () => {
    const dir = copyOfGood()
    writeFileSync(ledgerFile(dir), Buffer.alloc(8192, 7))
    const before = digest(ledgerFile(dir))
    const r = await runCli(["audit", "verify", "--data-dir", dir])
    expect(r.code).not.toBe(0)
    expect(oneLine(r.stderr)).toEqual([`hydravisor: ${ledgerFile(dir)}: not an SQLite database (bad header)`])
    expect(digest(ledgerFile(dir))).toBe(before)
  })

  it("a truncated database: one line naming it and saying truncated", async () => {
    const dir = copyOfGood()
    const size = statSync(ledgerFile(dir)).size
    truncateSync(ledgerFile(dir), Math.floor(size / 2))
    const before = digest(ledgerFile(dir))
    for (const args of [["audit", "verify"], ["keys", "rotate"]]) {
      const r = await runCli([...args, "--data-dir", dir])
      expect(r.code).not.toBe(0)
      const lines = oneLine(r.stderr)
      expect(lines.length).toBe(1)
      expect(lines[0]).toContain(ledgerFile(dir))
      expect(lines[0]).toMatch(/truncated/)
    }
    expect(digest(ledgerFile(dir))).toBe(before)
  })

  it("a key file holding another key: one line naming the file, the ledger untouched", async () => {
    const dir = copyOfGood()
    const keyFile = join(dir, "keys", "writer.key")
    writeFileSync(keyFile, generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 })
    const before = digest(ledgerFile(dir))
    const r = await runCli(["keys", "rotate", "--data-dir", dir])
    expect(r.code).not.toBe(0)
    const lines = oneLine(r.stderr)
    expect(lines.length).toBe(1)
    expect(lines[0]).toContain(keyFile)
    expect(digest(ledgerFile(dir))).toBe(before)
  })

  it("a key file that is not a key: one line naming the file", async () => {
    const dir = copyOfGood()
    const keyFile = join(dir, "keys", "writer.key")
    writeFileSync(keyFile, "not a key\n", { mode: 0o600 })
    const r = await runCli(["keys", "show", "--data-dir", dir])
    expect(r.code).not.toBe(0)
    expect(oneLine(r.stderr)).toEqual([expect.stringMatching(new RegExp(`${keyFile}: not a PEM private key`))])
    expect(readFileSync(keyFile, "utf8")).toBe("not a key\n")
  })

  it("a private key readable by others: refused with the chmod that fixes it", async () => {
    const dir = copyOfGood()
    const keyFile = join(dir, "keys", "writer.key")
    chmodSync(keyFile, 0o644)
    const r = await runCli(["keys", "show", "--data-dir", dir])
    expect(r.code).not.toBe(0)
    expect(oneLine(r.stderr)).toEqual([`hydravisor: ${keyFile}: refusing to use a private key readable by others (mode 0644); run: chmod 600 ${keyFile}`])
  })

  it("a data dir that cannot be read: one line naming it", async () => {
    const parent = tempDir("hv-noread-")
    const dir = join(parent, "data")
    cpSync(good, dir, { recursive: true })
    chmodSync(dir, 0o000)
    chmodSync(parent, 0o755)
    // root reads anything; without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH it obeys the mode bits.
    const r = await runCli(["audit", "verify", "--data-dir", dir], { wrapper: ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"] })
    chmodSync(dir, 0o700)
    expect(r.code).not.toBe(0)
    const lines = oneLine(r.stderr)
    expect(lines.length).toBe(1)
    expect(lines[0]).toContain(dir)
    expect(lines[0]).toMatch(/permission denied/i)
  })

  it("a data dir path that is a file: one line naming it", async () => {
    const file = join(tempDir("hv-notdir-"), "data")
    writeFileSync(file, "x")
    const r = await runCli(["audit", "verify", "--data-dir", file])
    expect(r.code).not.toBe(0)
    expect(oneLine(r.stderr).length).toBe(1)
    expect(r.stderr).toContain(file)
    expect(readFileSync(file, "utf8")).toBe("x")
  })

  it("verifies a good copy with exit 0 and a tampered one with exit 1 naming the record", async () => {
    const ok = await runCli(["audit", "verify", "--data-dir", good, "--json"])
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout).ok).toBe(true)
    const dir = copyOfGood()
    const rows = readRows(dir)
    const target = rows[17]!
    rewriteRows(dir, rows.map((r) => (r === target ? { ...r, body: r.body.replace('"exitCode":0', '"exitCode":1') } : r)))
    const bad = await runCli(["audit", "verify", "--data-dir", dir])
    expect(bad.code).toBe(1)
    expect(bad.stdout).toContain(`FAILED writer ${target.writer} seq ${target.seq} stream ${target.stream} id ${target.id}`)
    expect(bad.stdout).toContain("hash-mismatch")
  })
})
