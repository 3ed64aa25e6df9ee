// The witness: an append-only file outside the store that receives every checkpoint. A ledger whose
// tail was cut after a witnessed checkpoint no longer contains what the witness saw.
import { closeSync, fsyncSync, openSync, readFileSync, writeSync, existsSync } from "node:fs"
import { Data, Effect, Schema } from "effect"
import type { LedgerRecord } from "../../domain/ledger/record.js"
import { Sha256Hex, SignatureHex, WriterId } from "../../domain/ledger/record.js"
import type { WriterKey } from "../keys/key-store.js"

export const WitnessLine = Schema.Struct({
  writer: WriterId,
  seq: Schema.Int.pipe(Schema.nonNegative()),
  size: Schema.Int.pipe(Schema.nonNegative()),
  root: Sha256Hex,
  hash: Sha256Hex,
  sig: SignatureHex,
  keyId: WriterId,
  at: Schema.String
})
export type WitnessLine = Schema.Schema.Type<typeof WitnessLine>

export class WitnessUnreadable extends Data.TaggedError("WitnessUnreadable")<{ readonly file: string; readonly line: number; readonly problem: string }> {
  override get message() {
    return `${this.file}:${this.line}: ${this.problem}`
  }
}

export const appendWitness = (file: string, checkpoint: LedgerRecord, key: WriterKey) =>
  Effect.try({
    try: () => {
      const line: WitnessLine = {
        writer: checkpoint.chain.writer,
        seq: checkpoint.chain.seq,
        size: Number(checkpoint.data["size"]),
        root: String(checkpoint.data["root"]),
        hash: checkpoint.hash,
        sig: checkpoint.sig,
        keyId: key.keyId,
        at: checkpoint.at
      }
      const fd = openSync(file, "a", 0o644)
      try {
        writeSync(fd, JSON.stringify(line) + "\n")
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
    },
    catch: (e) => new WitnessUnreadable({ file, line: 0, problem: `cannot append: ${(e as Error).message}` })
  })

const decodeLine = Schema.decodeUnknownEither(Schema.parseJson(WitnessLine), { onExcessProperty: "error" })

export const readWitness = (file: string): Effect.Effect<ReadonlyArray<WitnessLine>, WitnessUnreadable> =>
  Effect.gen(function* () {
    if (!existsSync(file)) return yield* Effect.fail(new WitnessUnreadable({ file, line: 0, problem: "no such file" }))
    const text = yield* Effect.try({
      try: () => readFileSync(file, "utf8"),
      catch: (e) => new WitnessUnreadable({ file, line: 0, problem: (e as Error).message })
    })
    const lines = text.split("\n")
    const out: Array<WitnessLine> = []
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i]!
      if (raw.trim() === "") continue
      const decoded = decodeLine(raw)
      if (decoded._tag === "Left") return yield* Effect.fail(new WitnessUnreadable({ file, line: i + 1, problem: decoded.left.message.split("\n")[0] ?? "invalid" }))
      out.push(decoded.right)
    }
    return out
  })
