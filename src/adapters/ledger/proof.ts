// Builds inclusion proofs from a store: the record, the first checkpoint of its writer that covers
// it, and the audit path computed from the stored hashes.
import { Chunk, Data, Effect, Stream } from "effect"
import { inclusionProof, leafHash } from "../../domain/ledger/merkle.js"
import type { InclusionProof } from "../../domain/ledger/proof.js"
import type { LedgerRecord } from "../../domain/ledger/record.js"
import { keyStream } from "../../domain/ledger/ledger-events.js"
import type { EventStoreShape, StoreError } from "../store/event-store.js"

export class ProofUnavailable extends Data.TaggedError("ProofUnavailable")<{ readonly id: string; readonly problem: string }> {
  override get message() {
    return `event ${this.id}: ${this.problem}`
  }
}

/** The public key (hex) in force for a writer at a seq, from its key stream. */
const keyAt = (keyEvents: ReadonlyArray<LedgerRecord>, seq: number): string | null => {
  let key: string | null = null
  for (const r of keyEvents) {
    if (r.type === "WriterKeyRegistered" && r.chain.seq <= seq) key = String(r.data["publicKey"])
    if (r.type === "WriterKeyRotated" && r.chain.seq < seq) key = String(r.data["publicKey"])
  }
  return key
}

export const buildInclusionProof = (store: EventStoreShape, id: string): Effect.Effect<InclusionProof, StoreError | ProofUnavailable> =>
  Effect.gen(function* () {
    const found = yield* store.findById(id)
    if (!found) return yield* Effect.fail(new ProofUnavailable({ id, problem: "no such event in this ledger" }))
    const record = found.record
    const chainEvents = Chunk.toReadonlyArray(yield* Stream.runCollect(store.readStream(keyStream(record.chain.writer)))).map((s) => s.record)
    const checkpoint = chainEvents.find((r) => r.type === "Checkpoint" && Number(r.data["size"]) > record.chain.seq)
    if (!checkpoint)
      return yield* Effect.fail(
        new ProofUnavailable({ id, problem: `no checkpoint covers seq ${record.chain.seq} yet (the writer adds one every N records or T seconds)` })
      )
    const size = Number(checkpoint.data["size"])
    const hashes = yield* store.chainHashes(record.chain.writer, 0, size)
    const leaves = hashes.map((h) => leafHash(Buffer.from(h, "hex")))
    const recordKey = keyAt(chainEvents, record.chain.seq)
    const checkpointKey = keyAt(chainEvents, checkpoint.chain.seq)
    if (!recordKey || !checkpointKey) return yield* Effect.fail(new ProofUnavailable({ id, problem: "the writer's key is not recorded" }))
    return {
      format: "hydravisor-inclusion-proof/1" as const,
      record,
      checkpoint,
      leafIndex: record.chain.seq,
      treeSize: size,
      auditPath: inclusionProof(leaves, record.chain.seq, size).map((h) => Buffer.from(h).toString("hex")),
      recordKey,
      checkpointKey
    }
  })
