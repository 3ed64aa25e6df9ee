// Inclusion proofs an auditor checks offline: a record, the checkpoint that covers it, the audit
// path between them (RFC 9162), and the public keys that signed both. No store is needed.
import { Either, Schema } from "effect"
import { keyIdOf, publicKeyFromRaw, recordHash, verifyHashNacl, verifyHashNode } from "./hash.js"
import { leafHash, verifyInclusion } from "./merkle.js"
import { LedgerRecord, Sha256Hex } from "./record.js"

const KeyHex = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/))

export const InclusionProof = Schema.Struct({
  format: Schema.Literal("hydravisor-inclusion-proof/1"),
  record: LedgerRecord,
  checkpoint: LedgerRecord,
  leafIndex: Schema.Int.pipe(Schema.nonNegative()),
  treeSize: Schema.Int.pipe(Schema.positive()),
  auditPath: Schema.Array(Sha256Hex),
  recordKey: KeyHex,
  checkpointKey: KeyHex
})
export type InclusionProof = Schema.Schema.Type<typeof InclusionProof>

export const decodeInclusionProof = Schema.decodeUnknownEither(Schema.parseJson(InclusionProof), { onExcessProperty: "error" })

export interface ProofCheck {
  readonly writer: string
  readonly seq: number
  readonly treeSize: number
  readonly root: string
  readonly recordKeyId: string
  readonly checkpointKeyId: string
}

const sigOk = (pubHex: string, hash: string, sig: string) => {
  const raw = Buffer.from(pubHex, "hex")
  // Both implementations must agree; a disagreement is itself a failure.
  return verifyHashNode(publicKeyFromRaw(raw), hash, sig) && verifyHashNacl(raw, hash, sig)
}

/** Every check of an inclusion proof, or the first that fails, in words. */
export const checkInclusionProof = (p: InclusionProof, trustedKeys: ReadonlyArray<string> = []): Either.Either<ProofCheck, string> => {
  const { record, checkpoint } = p
  if (recordHash(record) !== record.hash) return Either.left("the record's hash does not match its content")
  if (recordHash(checkpoint) !== checkpoint.hash) return Either.left("the checkpoint's hash does not match its content")
  if (checkpoint.type !== "Checkpoint") return Either.left(`the covering record is a ${checkpoint.type}, not a Checkpoint`)
  if (checkpoint.chain.writer !== record.chain.writer) return Either.left("the record and the checkpoint belong to different writers")
  if (p.leafIndex !== record.chain.seq) return Either.left(`the leaf index ${p.leafIndex} is not the record's seq ${record.chain.seq}`)
  if (checkpoint.data["size"] !== p.treeSize) return Either.left(`the checkpoint covers ${String(checkpoint.data["size"])} records, the proof claims ${p.treeSize}`)
  if (!sigOk(p.recordKey, record.hash, record.sig)) return Either.left("the record's signature does not verify under recordKey")
  if (!sigOk(p.checkpointKey, checkpoint.hash, checkpoint.sig)) return Either.left("the checkpoint's signature does not verify under checkpointKey")
  for (const k of trustedKeys.length > 0 ? [p.recordKey, p.checkpointKey] : [])
    if (!trustedKeys.includes(k)) return Either.left(`key ${keyIdOf(Buffer.from(k, "hex"))} is not among the trusted keys`)
  const root = String(checkpoint.data["root"])
  const ok = verifyInclusion(
    leafHash(Buffer.from(record.hash, "hex")),
    p.leafIndex,
    p.treeSize,
    p.auditPath.map((h) => Buffer.from(h, "hex")),
    Buffer.from(root, "hex")
  )
  if (!ok) return Either.left("the audit path does not lead from the record to the checkpoint's Merkle root")
  return Either.right({
    writer: record.chain.writer,
    seq: record.chain.seq,
    treeSize: p.treeSize,
    root,
    recordKeyId: keyIdOf(Buffer.from(p.recordKey, "hex")),
    checkpointKeyId: keyIdOf(Buffer.from(p.checkpointKey, "hex"))
  })
}
