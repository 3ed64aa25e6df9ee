// `hydravisor demo`: the ledger's promise in one run. Writes a few hundred signed events of a scripted
// sandbox session, verifies them, then tampers with copies (a flipped byte, a cut-off tail) and shows
// the verifier naming the bad record; a redacted copy still verifies.
import { cpSync, mkdirSync } from "node:fs"
import { join, resolve } from "node:path"
import Database from "better-sqlite3"
import { Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { Ledger } from "../../adapters/ledger/ledger.js"
import { buildInclusionProof } from "../../adapters/ledger/proof.js"
import { verifyLedger, type VerifyReport } from "../../adapters/ledger/verify.js"
import { checkInclusionProof } from "../../domain/ledger/proof.js"
import { decodeLedgerRecordJson } from "../../domain/ledger/record.js"
import { redact } from "../../domain/ledger/sealed.js"
import { ledgerPath } from "../data-dir.js"
import { ExitWith } from "../errors.js"
import { jsonOption } from "../options.js"
import { printJson, say } from "../output.js"
import { withReadOnlyStore, writerLayer } from "../stores.js"

const operator = { kind: "operator" as const, id: "demo" }
const agent = { kind: "agent" as const, id: "coding-agent-1" }

const scriptedSession = (events: number) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    const sandboxes = ["sandbox-coding-agent-1", "sandbox-research-1", "sandbox-shared-dev"]
    for (const s of sandboxes)
      yield* ledger.append(s, [{ type: "SandboxLaunched", data: { template: "python-dev", runner: "bwrap", network: "none" } }], { actor: operator, expected: "no_stream" })
    let i = 0
    while (i < events - 2 * sandboxes.length) {
      const stream = sandboxes[i % sandboxes.length]!
      const batch = [
        { type: "CommandExecuted", data: { argv: ["python3", "-c", `print(${i} * 2)`], exitCode: i % 17 === 0 ? 1 : 0, durationMs: 12 }, sensitive: ["argv"] },
        { type: "FileChanged", data: { path: `src/module_${i % 11}.py`, sha256: "0".repeat(63) + String(i % 10), writes: 1 }, sensitive: ["path"] }
      ]
      yield* ledger.append(stream, batch, { actor: agent })
      i += batch.length
    }
    for (const s of sandboxes) yield* ledger.append(s, [{ type: "SandboxStopped", data: { reason: "demo finished" } }], { actor: operator })
    yield* ledger.checkpoint
    return yield* ledger.head
  })

const verifyDir = (dataDir: string, witness: string) =>
  withReadOnlyStore(dataDir, (store) => verifyLedger(store, { mode: "full", witnessFile: witness }))

const describeResult = (label: string, r: VerifyReport) => {
  const f = r.writers.find((w) => w.finding)?.finding
  return f
    ? `${label}: FAILED at seq ${f.seq} (${f.problem}) — ${f.detail}`
    : `${label}: OK — ${r.records} records verified (hashes, signatures, links, checkpoints, witness) in ${r.seconds.toFixed(2)} s`
}

export const demoCommand = Command.make(
  "demo",
  {
    json: jsonOption,
    dir: Options.directory("data-dir").pipe(Options.withAlias("dir"), Options.withDescription("where to put the demo's data dirs (default: ./.hydravisor-demo; never your real data dir)"), Options.optional),
    events: Options.integer("events").pipe(Options.withDefault(300), Options.withDescription("how many events to write"))
  },
  (o) =>
    Effect.gen(function* () {
      const root = resolve(Option.getOrElse(o.dir, () => ".hydravisor-demo"), new Date().toISOString().replace(/[:.]/g, "-"))
      const dataDir = join(root, "ledger")
      const witness = join(root, "witness.jsonl")
      mkdirSync(dataDir, { recursive: true })
      yield* say(`1. writing ${o.events} events of a scripted sandbox session to ${dataDir} (checkpoint every 50 records, witness ${witness})`)
      const head = yield* scriptedSession(o.events).pipe(Effect.provide(writerLayer(dataDir, { checkpointEveryRecords: 50, witnessFile: witness })), Effect.scoped)
      const original = yield* verifyDir(dataDir, witness)
      yield* say(`2. ${describeResult("original ledger", original)}`)

      const target = yield* withReadOnlyStore(dataDir, (store) => store.findById(idAtSeq(dataDir, 123)))
      const proof = yield* withReadOnlyStore(dataDir, (store) => buildInclusionProof(store, target!.record.id))
      const proofCheck = checkInclusionProof(proof)
      yield* say(`3. inclusion proof for seq 123 (${target!.record.type}): ${proofCheck._tag === "Right" ? `checks offline against checkpoint of ${proof.treeSize} records` : `FAILED: ${proofCheck.left}`}`)

      const flipped = copyLedger(dataDir, join(root, "tampered-byte"))
      const flippedAt = flipByte(flipped, 123)
      const afterFlip = yield* verifyDir(flipped, witness)
      yield* say(`4. ${describeResult(`copy with one byte changed in seq 123 ('${flippedAt}')`, afterFlip)}`)

      const cut = copyLedger(dataDir, join(root, "tail-cut"))
      const cutFrom = head.seq - 40
      new Database(ledgerPath(cut)).prepare("DELETE FROM records WHERE seq >= ?").run(cutFrom)
      const afterCut = yield* verifyDir(cut, witness)
      yield* say(`5. ${describeResult(`copy with the last ${head.seq - cutFrom + 1} records deleted`, afterCut)}`)

      const redacted = copyLedger(dataDir, join(root, "redacted"))
      const redactedCount = redactAll(redacted)
      const afterRedact = yield* verifyDir(redacted, witness)
      yield* say(`6. ${describeResult(`copy with ${redactedCount} sensitive values (argv, paths) redacted`, afterRedact)}`)

      const expected =
        original.ok &&
        proofCheck._tag === "Right" &&
        afterFlip.writers.some((w) => w.finding?.seq === 123) &&
        afterCut.writers.some((w) => w.finding?.problem === "tail-cut" && w.finding.seq === cutFrom) &&
        afterRedact.ok
      if (o.json) yield* printJson({ dataDir, witness, original, proof: proofCheck, afterFlip, afterCut, afterRedact, expected })
      yield* say(expected ? "Every tampering was caught at the right record; the redacted copy still verifies." : "UNEXPECTED: the demo did not behave as it should (see above).")
      if (!expected) return yield* Effect.fail(new ExitWith(1))
    })
).pipe(Command.withDescription("Write a scripted session to a new ledger, verify it, tamper with copies and watch the verifier catch each change."))

const copyLedger = (from: string, to: string) => {
  cpSync(from, to, { recursive: true })
  return to
}

const idAtSeq = (dataDir: string, seq: number): string => {
  const db = new Database(ledgerPath(dataDir), { readonly: true })
  try {
    return db.prepare("SELECT id FROM records WHERE seq = ?").pluck().get(seq) as string
  } finally {
    db.close()
  }
}

/** Changes one digit of the stored record at `seq` (its exit code or another number) and says what. */
const flipByte = (dataDir: string, seq: number): string => {
  const db = new Database(ledgerPath(dataDir))
  try {
    const body = db.prepare("SELECT body FROM records WHERE seq = ?").pluck().get(seq) as string
    const found = body.search(/"exitCode":\d/)
    const at = found >= 0 ? found : body.search(/"revision":\d/)
    const digit = body.indexOf(":", at) + 1
    const before = body[digit]!
    const after = before === "1" ? "2" : "1"
    db.prepare("UPDATE records SET body = ? WHERE seq = ?").run(body.slice(0, digit) + after + body.slice(digit + 1), seq)
    return `${body.slice(at, digit)}${before} -> ${after}`
  } finally {
    db.close()
  }
}

const redactAll = (dataDir: string): number => {
  const db = new Database(ledgerPath(dataDir))
  try {
    let n = 0
    const rows = db.prepare("SELECT pos, body FROM records WHERE body LIKE '%$sealed%'").all() as Array<{ pos: number; body: string }>
    const update = db.prepare("UPDATE records SET body = ? WHERE pos = ?")
    for (const row of rows) {
      const decoded = decodeLedgerRecordJson(row.body)
      if (decoded._tag === "Left") continue
      update.run(JSON.stringify(redact(decoded.right, ["*"])), row.pos)
      n++
    }
    return n
  } finally {
    db.close()
  }
}
