// `hydravisor audit verify|proof|check-proof`: what an auditor runs, offline, on a copy of a ledger.
import { readFileSync, writeFileSync } from "node:fs"
import { Args, Command, Options } from "@effect/cli"
import { Effect, Either, Option } from "effect"
import { verifyLedger, type VerifyReport } from "../../adapters/ledger/verify.js"
import { buildInclusionProof } from "../../adapters/ledger/proof.js"
import { checkInclusionProof, decodeInclusionProof } from "../../domain/ledger/proof.js"
import { cliConfig } from "../config.js"
import { resolveDataDir } from "../data-dir.js"
import { ExitWith } from "../errors.js"
import { dataDirOption, jsonOption } from "../options.js"
import { printJson, printTable, progress, say } from "../output.js"
import { withReadOnlyStore } from "../stores.js"

const renderReport = (r: VerifyReport) =>
  Effect.gen(function* () {
    yield* printTable(
      ["WRITER", "RECORDS", "LAST SEQ", "KEYS", "CHECKPOINTS", "STATUS"],
      r.writers.map((w) => [w.writer, String(w.records), String(w.lastSeq), w.keyIds.join(","), String(w.checkpoints), w.finding ? `FAILED (${w.finding.problem})` : "ok"])
    )
    for (const w of r.writers)
      if (w.finding)
        yield* say(
          `FAILED writer ${w.writer} seq ${w.finding.seq ?? "?"}${w.finding.stream ? ` stream ${w.finding.stream}` : ""}${w.finding.id ? ` id ${w.finding.id}` : ""} (position ${w.finding.position}): ${w.finding.problem}: ${w.finding.detail}`
        )
    const rate = r.seconds > 0 ? Math.round(r.records / r.seconds) : r.records
    const witness = r.witness ? `, ${r.witness.checkpoints} witnessed checkpoint(s) checked` : ""
    yield* say(`${r.ok ? "OK" : "FAILED"}: ${r.records} records, ${r.writers.length} writer(s), --${r.mode}${witness}, ${r.seconds.toFixed(2)} s (${rate} records/s)`)
  })

const verify = Command.make(
  "verify",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    fast: Options.boolean("fast").pipe(Options.withDescription("check sequence, links, checkpoint roots and the witness from stored hashes (no re-hashing, no per-record signatures)")),
    full: Options.boolean("full").pipe(Options.withDescription("re-derive every hash and check every signature (the default)")),
    workers: Options.integer("workers").pipe(Options.withDescription("worker threads for --full (default: up to 2)"), Options.optional),
    witness: Options.file("witness").pipe(Options.withDescription("a witness file that received the writer's checkpoints; detects a cut-off tail"), Options.optional),
    writer: Options.text("writer").pipe(Options.withDescription("verify only this writer's chain"), Options.optional),
    store: Options.text("store").pipe(Options.withDescription("verify another store instead of the data dir's: sqlite:PATH or esdb://HOST:PORT"), Options.optional)
  },
  (o) =>
    Effect.gen(function* () {
      const dataDir = resolveDataDir(o.dataDir)
      const { config } = yield* cliConfig()
      const line = progress("verifying")
      const report = yield* withReadOnlyStore(dataDir, Option.getOrUndefined(o.store), (store) =>
        verifyLedger(store, {
          mode: o.fast && !o.full ? "fast" : "full",
          workers: Option.getOrElse(o.workers, () => 2),
          witnessFile: Option.getOrElse(o.witness, () => config.ledger.witness_file),
          writer: Option.getOrUndefined(o.writer),
          onProgress: (n) => line.update(`${n} records`)
        })
      )
      yield* line.done()
      yield* o.json ? printJson(report) : renderReport(report)
      if (!report.ok) return yield* Effect.fail(new ExitWith(1))
    })
).pipe(Command.withDescription("Verify every writer's chain: order, links, hashes, signatures, checkpoints, key rotations, witness. Exits 1 and names the first bad record on failure."))

const proof = Command.make(
  "proof",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    out: Options.file("out").pipe(Options.withDescription("write the proof to this file instead of stdout"), Options.optional),
    id: Args.text({ name: "event-id" }).pipe(Args.withDescription("the id (UUIDv7) of the event to prove"))
  },
  (o) =>
    Effect.gen(function* () {
      const p = yield* withReadOnlyStore(resolveDataDir(o.dataDir), (store) => buildInclusionProof(store, o.id))
      const text = JSON.stringify(p, null, 2)
      if (Option.isSome(o.out)) {
        writeFileSync(o.out.value, text + "\n")
        yield* o.json ? printJson({ file: o.out.value, treeSize: p.treeSize, leafIndex: p.leafIndex }) : say(`wrote ${o.out.value}: event ${o.id} is leaf ${p.leafIndex} of ${p.treeSize}`)
      } else yield* say(text)
    })
).pipe(Command.withDescription("Print an inclusion proof for one event: the record, the checkpoint covering it and the Merkle audit path. Check it with `audit check-proof`."))

const checkProof = Command.make(
  "check-proof",
  {
    json: jsonOption,
    key: Options.text("trust-key").pipe(Options.withDescription("a writer public key (hex) you trust; repeat for several"), Options.repeated),
    file: Args.file({ name: "proof-file", exists: "yes" })
  },
  (o) =>
    Effect.gen(function* () {
      const decoded = decodeInclusionProof(readFileSync(o.file, "utf8"))
      if (Either.isLeft(decoded)) return yield* Effect.fail(new Error(`${o.file}: not an inclusion proof: ${decoded.left.message.split("\n").slice(0, 3).join(" ")}`))
      const result = checkInclusionProof(decoded.right, o.key)
      if (Either.isLeft(result)) {
        yield* o.json ? printJson({ ok: false, problem: result.left }) : say(`FAILED: ${result.left}`)
        return yield* Effect.fail(new ExitWith(1))
      }
      const c = result.right
      yield* o.json
        ? printJson({ ok: true, ...c })
        : say(`OK: seq ${c.seq} of writer ${c.writer} is included in the checkpoint of ${c.treeSize} records (root ${c.root}); signed by key ${c.recordKeyId}${c.checkpointKeyId !== c.recordKeyId ? ` and ${c.checkpointKeyId}` : ""}${o.key.length === 0 ? " — compare these key ids with the ones you trust, or pass --trust-key" : ""}`)
    })
).pipe(Command.withDescription("Check an inclusion proof file with no store and no server."))

export const auditCommand = Command.make("audit").pipe(
  Command.withDescription("Verify the ledger and prove events to an auditor"),
  Command.withSubcommands([verify, proof, checkProof])
)
