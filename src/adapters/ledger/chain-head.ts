// The head of the writer's chain and the stamping of records onto it: revision, seq, prev, id,
// time, sealed sensitive fields, hash. Signing happens later, in worker threads.
import { randomBytes } from "node:crypto"
import type { NewEvent } from "../../domain/ledger/event-definition.js"
import { recordHash } from "../../domain/ledger/hash.js"
import { CompactRange } from "../../domain/ledger/merkle.js"
import type { Actor, UnsignedRecord } from "../../domain/ledger/record.js"
import { seal } from "../../domain/ledger/sealed.js"
import { formatTimestamp, uuidv7 } from "../../domain/ledger/time.js"

export type StampedRecord = UnsignedRecord & { readonly hash: string }

export interface StampContext {
  readonly actor: Actor
  readonly correlation?: string | null | undefined
  readonly causation?: string | null | undefined
}

/** Random bytes for ids and salts from one pool refilled in blocks (randomBytes per call is slow). */
const randomPool = () => {
  let pool = randomBytes(0)
  let offset = 0
  return (n: number) => {
    if (offset + n > pool.length) {
      pool = randomBytes(65536)
      offset = 0
    }
    const out = pool.subarray(offset, offset + n)
    offset += n
    return out
  }
}

export class ChainHead {
  seq = -1
  prev: string | null = null
  /** records appended since the last checkpoint */
  sinceCheckpoint = 0
  private range = new CompactRange()
  private readonly random = randomPool()

  constructor(
    readonly writer: string,
    private readonly sensitiveOf: (type: string) => ReadonlyArray<string>
  ) {}

  /** Restarting from the store: `clear`, `restore` each stored hash in seq order, then `restored`. */
  clear() {
    this.range = new CompactRange()
    this.seq = -1
    this.prev = null
  }

  restore(hashes: Iterable<string>) {
    for (const h of hashes) {
      this.range.append(Buffer.from(h, "hex"))
      this.seq += 1
      this.prev = h
    }
  }

  restored(lastCheckpointSeq: number | null) {
    this.sinceCheckpoint = lastCheckpointSeq === null ? this.seq + 1 : this.seq - lastCheckpointSeq
  }

  /** The Merkle root over every record stamped so far. */
  root(): string {
    return Buffer.from(this.range.root()).toString("hex")
  }

  stamp(stream: string, revision: number, event: NewEvent, context: StampContext, nanos: bigint): StampedRecord {
    const fields = event.sensitive ?? this.sensitiveOf(event.type)
    let data: Record<string, unknown> = event.data as Record<string, unknown>
    if (fields.length > 0) {
      data = { ...data }
      for (const f of fields) if (f in data) data[f] = seal(data[f], this.random(16).toString("hex"))
    }
    this.seq += 1
    const unsigned: UnsignedRecord = {
      id: uuidv7(Number(nanos / 1_000_000n), this.random(10)),
      stream,
      type: event.type,
      revision,
      at: formatTimestamp(nanos),
      actor: context.actor,
      correlation: context.correlation ?? null,
      causation: context.causation ?? null,
      data,
      chain: { writer: this.writer, seq: this.seq, prev: this.prev }
    }
    const hash = recordHash(unsigned)
    this.prev = hash
    this.range.append(Buffer.from(hash, "hex"))
    this.sinceCheckpoint += 1
    return { ...unsigned, hash }
  }
}
