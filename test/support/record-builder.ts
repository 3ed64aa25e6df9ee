// Signed ledger records built directly from the domain functions, for store and verifier tests
// that need valid records without a running writer.
import { generateKeyPairSync, createPublicKey, randomBytes, type KeyObject } from "node:crypto"
import { keyIdOf, rawPublicKey, recordHash, signHash } from "../../src/domain/ledger/hash.js"
import type { Actor, LedgerRecord } from "../../src/domain/ledger/record.js"
import { formatTimestamp, uuidv7 } from "../../src/domain/ledger/time.js"

export interface TestWriter {
  readonly writerId: string
  readonly privateKey: KeyObject
  readonly publicKeyHex: string
  seq: number
  prev: string | null
  readonly revisions: Map<string, number>
}

export const newWriter = (): TestWriter => {
  const { privateKey } = generateKeyPairSync("ed25519")
  const raw = rawPublicKey(createPublicKey(privateKey))
  return { writerId: keyIdOf(raw), privateKey, publicKeyHex: Buffer.from(raw).toString("hex"), seq: -1, prev: null, revisions: new Map() }
}

const actor: Actor = { kind: "operator", id: "test" }
let clock = 1_790_000_000_000_000_000n

/** The next record of this writer's chain in `stream`, signed; advances the writer. */
export const nextRecord = (w: TestWriter, stream: string, type: string, data: Record<string, unknown>): LedgerRecord => {
  clock += 1_000_123n
  const revision = (w.revisions.get(stream) ?? -1) + 1
  w.revisions.set(stream, revision)
  w.seq += 1
  const unsigned = {
    id: uuidv7(Number(clock / 1_000_000n), randomBytes(10)),
    stream,
    type,
    revision,
    at: formatTimestamp(clock),
    actor,
    correlation: null,
    causation: null,
    data,
    chain: { writer: w.writerId, seq: w.seq, prev: w.prev }
  }
  const hash = recordHash(unsigned)
  w.prev = hash
  return { ...unsigned, hash, sig: signHash(w.privateKey, hash) }
}

export const registration = (w: TestWriter): LedgerRecord =>
  nextRecord(w, `key-${w.writerId}`, "WriterKeyRegistered", { algorithm: "ed25519", keyId: w.writerId, publicKey: w.publicKeyHex, host: "test" })
