// Acceptance of issue 3: a writer SIGKILLed at random moments loses no acknowledged record and
// leaves a ledger that opens and verifies, 30 times over.
import { describe, expect, it } from "vitest"
import { spawn } from "node:child_process"
import { Effect } from "effect"
import Database from "better-sqlite3"
import { verifyLedger } from "../../../src/adapters/ledger/verify.js"
import { EventStore } from "../../../src/adapters/store/event-store.js"
import { ledgerFile, readOnlyStore, tempDir } from "../../support/ledger-fixture.js"

const runUntilKilled = (dataDir: string, killAfterMs: number) =>
  new Promise<{ acked: Array<string>; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "test/support/append-loop.ts", dataDir], { stdio: ["ignore", "pipe", "pipe"] })
    const acked: Array<string> = []
    let buffer = ""
    let stderr = ""
    let timer: NodeJS.Timeout | undefined
    child.stdout.on("data", (chunk: Buffer) => {
      buffer += chunk.toString()
      const lines = buffer.split("\n")
      buffer = lines.pop() ?? ""
      for (const line of lines) if (line.startsWith("ack ")) acked.push(line.split(" ")[1]!)
      // The clock starts at the first acknowledgement, so every kill lands mid-stream.
      timer ??= setTimeout(() => child.kill("SIGKILL"), killAfterMs)
    })
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
    child.on("exit", () => {
      clearTimeout(timer)
      resolve({ acked, stderr })
    })
    setTimeout(() => child.kill("SIGKILL"), 20_000)
  })

describe("Ledger under kill -9", () => {
  it("keeps every acknowledged record and a verifiable chain across 30 random kills", async () => {
    const dataDir = tempDir("hv-crash-")
    const allAcked: Array<string> = []
    for (let round = 0; round < 30; round++) {
      const { acked, stderr } = await runUntilKilled(dataDir, 20 + Math.floor(Math.random() * 400))
      expect(stderr).not.toMatch(/append-loop:/)
      expect(acked.length).toBeGreaterThan(0)
      allAcked.push(...acked)
      const report = await Effect.runPromise(
        Effect.flatMap(EventStore, (s) => verifyLedger(s, { mode: "full", workers: 0 })).pipe(Effect.provide(readOnlyStore(dataDir)), Effect.scoped)
      )
      expect(report.writers.map((w) => w.finding)).toEqual([null])
      const db = new Database(ledgerFile(dataDir), { readonly: true })
      const present = new Set(db.prepare("SELECT id FROM records").pluck().all() as Array<string>)
      db.close()
      const lost = allAcked.filter((id) => !present.has(id))
      expect(lost).toEqual([])
    }
  }, 300_000)
})
