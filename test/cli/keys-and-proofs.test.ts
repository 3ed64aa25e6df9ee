import { describe, expect, it } from "vitest"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import Database from "better-sqlite3"
import { ledgerFile, tempDir, writeEvents } from "../support/ledger-fixture.js"
import { runCli } from "../support/cli.js"

describe("hydravisor keys", () => {
  it("show creates the writer key on first use with mode 0600", async () => {
    const dir = join(tempDir(), "data")
    const r = await runCli(["keys", "show", "--data-dir", dir, "--json"])
    expect(r.code).toBe(0)
    const info = JSON.parse(r.stdout)
    expect(info.mode).toBe("0600")
    expect(info.writerId).toBe(info.keyId)
    expect(info.created).toBe(true)
  })

  it("rotate records WriterKeyRotated signed by the old key; the chain verifies across the rotation", async () => {
    const dir = join(tempDir(), "data")
    await Effect.runPromise(writeEvents(dir, 10))
    const rotated = await runCli(["keys", "rotate", "--data-dir", dir, "--json"])
    expect(rotated.code).toBe(0)
    const { previousKeyId, keyId } = JSON.parse(rotated.stdout)
    expect(keyId).not.toBe(previousKeyId)
    await Effect.runPromise(writeEvents(dir, 10))
    const verified = await runCli(["audit", "verify", "--data-dir", dir, "--json"])
    expect(verified.code).toBe(0)
    const report = JSON.parse(verified.stdout)
    expect(report.writers[0].keyIds).toEqual([previousKeyId, keyId])
    const show = JSON.parse((await runCli(["keys", "show", "--data-dir", dir, "--json"])).stdout)
    expect(show.keyId).toBe(keyId)
    expect(show.writerId).toBe(previousKeyId)
  })

  it("a second writer on the same data dir is refused while the first runs", async () => {
    const dir = join(tempDir(), "data")
    await Effect.runPromise(writeEvents(dir, 1))
    writeFileSync(join(dir, "writer.lock"), String(process.pid))
    const r = await runCli(["keys", "rotate", "--data-dir", dir])
    expect(r.code).not.toBe(0)
    expect(r.stderr).toContain(`another Hydravisor writer (pid ${process.pid})`)
  })
})

describe("hydravisor audit proof / check-proof", () => {
  it("a proof checks offline; a changed path, record or untrusted key fails it", async () => {
    const dir = join(tempDir(), "data")
    await Effect.runPromise(writeEvents(dir, 40, { checkpointEveryRecords: 16 }))
    const db = new Database(ledgerFile(dir), { readonly: true })
    const id = db.prepare("SELECT id FROM records WHERE seq = 5").pluck().get() as string
    db.close()
    const file = join(tempDir(), "proof.json")
    expect((await runCli(["audit", "proof", id, "--data-dir", dir, "--out", file])).code).toBe(0)
    const ok = await runCli(["audit", "check-proof", file, "--json"])
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, seq: 5, treeSize: 16 })

    const proof = JSON.parse(readFileSync(file, "utf8"))
    const variants = [
      { ...proof, auditPath: [proof.auditPath[1], proof.auditPath[0], ...proof.auditPath.slice(2)] },
      { ...proof, record: { ...proof.record, data: { ...proof.record.data, exitCode: 1 } } },
      { ...proof, leafIndex: 6 }
    ]
    for (const v of variants) {
      writeFileSync(file, JSON.stringify(v))
      const r = await runCli(["audit", "check-proof", file])
      expect(r.code).toBe(1)
      expect(r.stdout).toMatch(/^FAILED: /)
    }
    writeFileSync(file, JSON.stringify(proof))
    const untrusted = await runCli(["audit", "check-proof", file, "--trust-key", "ab".repeat(32)])
    expect(untrusted.code).toBe(1)
    expect(untrusted.stdout).toContain("not among the trusted keys")
  })

  it("names an event no checkpoint covers yet", async () => {
    const dir = join(tempDir(), "data")
    await Effect.runPromise(writeEvents(dir, 5, { checkpointEveryRecords: 1000 }))
    // The writer checkpoints on shutdown; a writer killed before that leaves its tail uncovered.
    const db = new Database(ledgerFile(dir))
    db.prepare("DELETE FROM records WHERE type = 'Checkpoint'").run()
    const id = db.prepare("SELECT id FROM records WHERE seq = 3").pluck().get() as string
    db.close()
    const r = await runCli(["audit", "proof", id, "--data-dir", dir])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("no checkpoint covers seq 3 yet")
  })
})
