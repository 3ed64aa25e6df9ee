// Offline verification of writer chains, fed one record summary at a time in store order. Pure: the
// expensive parts (decoding, re-hashing, signature checks) arrive already computed in each entry.
import { CompactRange } from "./merkle.js"
import { keyIdOf } from "./hash.js"

export type Problem =
  | "undecodable"
  | "hash-mismatch"
  | "bad-signature"
  | "broken-link"
  | "missing-records"
  | "reordered"
  | "unknown-key"
  | "checkpoint-mismatch"
  | "tail-cut"
  | "witness-mismatch"

export interface Finding {
  readonly writer: string | null
  readonly seq: number | null
  readonly stream: string | null
  readonly id: string | null
  readonly position: string
  readonly problem: Problem
  readonly detail: string
}

export interface ChainEntry {
  readonly position: string
  readonly writer: string | null
  readonly seq: number
  readonly prev: string | null
  readonly hash: string
  readonly type: string
  readonly id: string | null
  readonly stream: string | null
  /** set when the record could not be decoded */
  readonly undecodable?: string
  /** full mode: the stored hash equals the recomputed one */
  readonly hashOk?: boolean
  /** full mode: the key (raw hex) the signature verified under, or null when it did not */
  readonly signedBy?: string | null
  /** key events and checkpoints: their payload */
  readonly data?: Readonly<Record<string, unknown>> | null
}

export interface WriterSummary {
  readonly writer: string
  readonly records: number
  readonly lastSeq: number
  readonly keyIds: ReadonlyArray<string>
  readonly checkpoints: number
  readonly lastCheckpointSeq: number | null
  readonly finding: Finding | null
}

interface WriterState {
  expected: number
  lastHash: string | null
  key: string | null
  keyIds: Array<string>
  range: CompactRange
  records: number
  checkpoints: Map<number, string>
  lastCheckpointSeq: number | null
  finding: Finding | null
}

export interface WitnessEntry {
  readonly writer: string
  readonly seq: number
  readonly hash: string
}

export class ChainVerifier {
  private readonly writers = new Map<string, WriterState>()
  private lastWriter: string | null = null

  constructor(private readonly mode: "fast" | "full") {}

  private state(writer: string): WriterState {
    let s = this.writers.get(writer)
    if (!s) {
      s = { expected: 0, lastHash: null, key: null, keyIds: [], range: new CompactRange(), records: 0, checkpoints: new Map(), lastCheckpointSeq: null, finding: null }
      this.writers.set(writer, s)
    }
    return s
  }

  private fail(s: WriterState, e: ChainEntry, writer: string, seq: number, problem: Problem, detail: string) {
    s.finding = { writer, seq, stream: e.stream, id: e.id, position: e.position, problem, detail }
  }

  feed(e: ChainEntry): void {
    // A damaged record may name a writer that does not exist; it belongs where it sits.
    const damaged = e.undecodable !== undefined || e.hashOk === false
    const writer = e.writer !== null && (this.writers.has(e.writer) || !damaged) ? e.writer : this.lastWriter ?? e.writer
    if (writer === null) {
      const s = this.state("unknown")
      if (!s.finding) this.fail(s, e, "unknown", null as unknown as number, "undecodable", e.undecodable ?? "record does not decode")
      return
    }
    this.lastWriter = writer
    const s = this.state(writer)
    if (s.finding) return
    if (e.undecodable !== undefined) return this.fail(s, e, writer, s.expected, "undecodable", e.undecodable)
    // A record that is not intact is reported where it sits in the chain, whatever seq it claims.
    if ((this.mode === "full" || e.data) && e.hashOk === false)
      return this.fail(s, e, writer, s.expected, "hash-mismatch", `the stored hash does not match the record's content (it claims seq ${e.seq})`)
    if (e.seq !== s.expected) {
      if (e.seq > s.expected)
        return this.fail(s, e, writer, s.expected, "missing-records", `expected seq ${s.expected}, found seq ${e.seq}: ${e.seq - s.expected} record(s) missing or moved`)
      if (e.seq === s.expected - 1 && e.hash === s.lastHash)
        return this.fail(s, e, writer, e.seq, "reordered", `seq ${e.seq} appears twice in a row (a duplicated record)`)
      return this.fail(s, e, writer, s.expected, "reordered", `expected seq ${s.expected}, found a record claiming seq ${e.seq} (duplicated or moved)`)
    }
    if (e.prev !== s.lastHash)
      return this.fail(s, e, writer, e.seq, "broken-link", `prev ${e.prev ?? "null"} is not the hash of seq ${e.seq - 1} (${s.lastHash ?? "none"})`)
    if (e.type === "WriterKeyRegistered") {
      const pub = String(e.data?.["publicKey"] ?? "")
      if (e.seq !== 0 || s.key !== null)
        return this.fail(s, e, writer, e.seq, "unknown-key", "a second WriterKeyRegistered in one chain (only rotations may change the key)")
      if (pub.length !== 64 || keyIdOf(Buffer.from(pub, "hex")) !== writer)
        return this.fail(s, e, writer, e.seq, "unknown-key", `the registered key does not have the writer's id ${writer}`)
      s.key = pub
      s.keyIds.push(writer)
    } else if (s.key === null) {
      return this.fail(s, e, writer, e.seq, "unknown-key", "the chain does not start with WriterKeyRegistered: no key to check signatures with")
    }
    if ((this.mode === "full" || e.data) && e.signedBy !== s.key)
      return this.fail(s, e, writer, e.seq, "bad-signature", `the signature does not verify under the writer's key ${s.keyIds[s.keyIds.length - 1] ?? "?"}`)
    if (e.type === "WriterKeyRotated") {
      const pub = String(e.data?.["publicKey"] ?? "")
      if (pub.length !== 64) return this.fail(s, e, writer, e.seq, "unknown-key", "the rotation names no valid public key")
      s.key = pub
      s.keyIds.push(keyIdOf(Buffer.from(pub, "hex")))
    }
    if (e.type === "Checkpoint") {
      const size = e.data?.["size"]
      const root = Buffer.from(s.range.root()).toString("hex")
      if (size !== e.seq) return this.fail(s, e, writer, e.seq, "checkpoint-mismatch", `checkpoint size ${String(size)} should be ${e.seq}`)
      if (e.data?.["root"] !== root) return this.fail(s, e, writer, e.seq, "checkpoint-mismatch", `checkpoint root ${String(e.data?.["root"])} is not the Merkle root ${root} of seq 0..${e.seq - 1}`)
      s.checkpoints.set(e.seq, e.hash)
      s.lastCheckpointSeq = e.seq
    }
    s.range.append(Buffer.from(e.hash, "hex"))
    s.lastHash = e.hash
    s.expected += 1
    s.records += 1
  }

  /** Checks the witness against what was read, then summarises every writer. */
  finish(witness: ReadonlyArray<WitnessEntry> = []): ReadonlyArray<WriterSummary> {
    for (const w of witness) {
      const s = this.state(w.writer)
      if (s.finding) continue
      const last = s.expected - 1
      const none = { stream: null, id: null, position: "end" }
      if (last < w.seq)
        s.finding = { writer: w.writer, seq: last + 1, ...none, problem: "tail-cut", detail: `the witness holds a checkpoint at seq ${w.seq}, but the ledger ends at seq ${last}: the tail from seq ${last + 1} was cut` }
      else if (s.checkpoints.get(w.seq) !== w.hash)
        s.finding = { writer: w.writer, seq: w.seq, ...none, problem: "witness-mismatch", detail: `the witness's checkpoint at seq ${w.seq} (hash ${w.hash}) is not the ledger's record there` }
    }
    return [...this.writers.entries()].map(([writer, s]) => ({
      writer,
      records: s.records,
      lastSeq: s.expected - 1,
      keyIds: s.keyIds,
      checkpoints: s.checkpoints.size,
      lastCheckpointSeq: s.lastCheckpointSeq,
      finding: s.finding
    }))
  }
}
