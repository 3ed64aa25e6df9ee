// What the verification workers and the main thread exchange, and the per-record summary both use.
import { Either } from "effect"
import type { ChainEntry } from "../../domain/ledger/chain-verifier.js"
import type { LedgerRecord, UnsignedRecord } from "../../domain/ledger/record.js"

/** writer -> keys in force from a seq on, as claimed by the stored key events (the main thread checks them). */
export type KeySchedule = Readonly<Record<string, ReadonlyArray<{ readonly fromSeq: number; readonly publicKey: string }>>>

export interface WorkerRequest {
  readonly id: number
  readonly positions: ReadonlyArray<string>
  readonly bodies: ReadonlyArray<string>
  readonly schedule?: KeySchedule
}

export const keyAt = (schedule: KeySchedule, writer: string, seq: number): string | null => {
  const list = schedule[writer]
  if (!list) return null
  let key: string | null = null
  for (const k of list) if (k.fromSeq <= seq) key = k.publicKey
  return key
}

// A malformed key in a tampered record must read as "does not verify", never as a crash.
const safely = (check: () => boolean): boolean => {
  try {
    return check()
  } catch {
    return false
  }
}

const CHAIN_TYPES = new Set(["WriterKeyRegistered", "WriterKeyRotated", "Checkpoint"])

// When a record does not decode, its writer and seq are still looked for so the report can name them.
const CHAIN_HINT = /"chain":\{"writer":"([0-9a-f]{16})","seq":(\d+)/

export const summarize = (
  position: string,
  body: string,
  decode: (s: string) => Either.Either<LedgerRecord, { message: string }>,
  hashOf: (r: UnsignedRecord) => string,
  schedule: KeySchedule,
  verifySig: (publicKey: string, hash: string, sig: string) => boolean
): ChainEntry => {
  const decoded = decode(body)
  if (Either.isLeft(decoded)) {
    const hint = CHAIN_HINT.exec(body)
    return {
      position,
      writer: hint?.[1] ?? null,
      seq: hint ? Number(hint[2]) : -1,
      prev: null,
      hash: "",
      type: "",
      id: null,
      stream: null,
      undecodable: `the stored record does not decode: ${decoded.left.message.split("\n").slice(0, 4).join(" ").slice(0, 300)}`
    }
  }
  const r = decoded.right
  const hashOk = safely(() => hashOf(r) === r.hash)
  const key = keyAt(schedule, r.chain.writer, r.chain.seq)
  let signedBy: string | null = null
  if (key !== null && safely(() => verifySig(key, r.hash, r.sig))) signedBy = key
  return {
    position,
    writer: r.chain.writer,
    seq: r.chain.seq,
    prev: r.chain.prev,
    hash: r.hash,
    type: r.type,
    id: r.id,
    stream: r.stream,
    hashOk,
    signedBy,
    data: CHAIN_TYPES.has(r.type) ? r.data : null
  }
}
