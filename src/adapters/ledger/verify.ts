// `audit verify`: reads a store in global order and checks every writer's chain. --full re-derives
// each record's hash and checks its signature in worker threads; --fast trusts the stored hash
// columns and checks sequence, links, checkpoint roots and signatures of chain events only.
import { availableParallelism } from "node:os"
import type { Worker } from "node:worker_threads"
import { verify as verifySignature } from "node:crypto"
import { Effect, Either, Stream } from "effect"
import { ChainVerifier, type ChainEntry, type WriterSummary } from "../../domain/ledger/chain-verifier.js"
import { publicKeyFromRaw, recordHash } from "../../domain/ledger/hash.js"
import { decodeLedgerRecordJson } from "../../domain/ledger/record.js"
import type { EventStoreShape, IndexRow, Position, StoreError } from "../store/event-store.js"
import { siblingModule, spawnModuleWorker } from "./spawn-worker.js"
import { summarize, type KeySchedule } from "./verify-protocol.js"
import { readWitness, type WitnessUnreadable } from "./witness.js"

export interface VerifyOptions {
  readonly mode: "fast" | "full"
  /** worker threads for --full; 0 checks on the calling thread (small ledgers, tests) */
  readonly workers?: number
  readonly witnessFile?: string | undefined
  readonly writer?: string | undefined
  readonly onProgress?: (records: number) => void
}

export interface VerifyReport {
  readonly ok: boolean
  readonly mode: "fast" | "full"
  readonly records: number
  readonly writers: ReadonlyArray<WriterSummary>
  readonly witness: { readonly file: string; readonly checkpoints: number } | null
  readonly seconds: number
}

const positionText = (p: Position) => (p.commit === p.prepare ? String(p.commit) : `${p.commit}/${p.prepare}`)

const publicKeys = new Map<string, ReturnType<typeof publicKeyFromRaw>>()
const verifySigMain = (pub: string, hash: string, sig: string) => {
  let key = publicKeys.get(pub)
  if (!key) publicKeys.set(pub, (key = publicKeyFromRaw(Buffer.from(pub, "hex"))))
  return verifySignature(null, Buffer.from(hash, "hex"), key, Buffer.from(sig, "hex"))
}

/** Key events as the store claims them; the chain verifier checks each claim in order. */
const keySchedule = (store: EventStoreShape): Effect.Effect<KeySchedule, StoreError> => {
  const schedule: Record<string, Array<{ fromSeq: number; publicKey: string }>> = {}
  const add = (writer: string, fromSeq: number, publicKey: unknown) => {
    if (typeof publicKey !== "string" || !/^[0-9a-f]{64}$/.test(publicKey)) return
    ;(schedule[writer] ??= []).push({ fromSeq, publicKey })
  }
  const consider = (body: string) => {
    const d = decodeLedgerRecordJson(body)
    if (Either.isLeft(d)) return
    const r = d.right
    if (r.type === "WriterKeyRegistered") add(r.chain.writer, r.chain.seq, r.data["publicKey"])
    if (r.type === "WriterKeyRotated") add(r.chain.writer, r.chain.seq + 1, r.data["publicKey"])
  }
  const scan = store.readIndex
    ? Stream.runForEach(store.readIndex(), (rows) => Effect.sync(() => rows.forEach((row) => row.body !== null && row.type !== "Checkpoint" && consider(row.body))))
    : Stream.runForEach(store.readAllRaw(), (rows) =>
        Effect.sync(() => rows.forEach((row) => row.body.includes('"type":"WriterKey') && consider(row.body)))
      )
  return scan.pipe(Effect.map(() => {
    for (const list of Object.values(schedule)) list.sort((a, b) => a.fromSeq - b.fromSeq)
    return schedule
  }))
}

const chainEventEntry = (position: string, body: string, schedule: KeySchedule): ChainEntry =>
  summarize(position, body, decodeLedgerRecordJson, recordHash, schedule, verifySigMain)

const indexEntry = (row: IndexRow, schedule: KeySchedule): ChainEntry =>
  row.body !== null
    ? chainEventEntry(positionText(row.position), row.body, schedule)
    : { position: positionText(row.position), writer: row.writer, seq: row.seq, prev: row.prev, hash: row.hash, type: row.type, id: null, stream: null }

export const verifyLedger = (store: EventStoreShape, options: VerifyOptions): Effect.Effect<VerifyReport, StoreError | WitnessUnreadable> =>
  Effect.gen(function* () {
    const started = performance.now()
    const verifier = new ChainVerifier(options.mode)
    const witness = options.witnessFile ? yield* readWitness(options.witnessFile) : []
    const schedule = yield* keySchedule(store)
    let records = 0
    const feed = (entries: ReadonlyArray<ChainEntry>) => {
      for (const e of entries) if (options.writer === undefined || e.writer === options.writer || e.writer === null) verifier.feed(e)
      records += entries.length
      options.onProgress?.(records)
    }
    if (options.mode === "fast" && store.readIndex) {
      yield* Stream.runForEach(store.readIndex(), (rows) => Effect.sync(() => feed(rows.map((r) => indexEntry(r, schedule)))))
    } else if (options.mode === "fast") {
      yield* Stream.runForEach(store.readAllRaw(), (rows) => Effect.sync(() => feed(rows.map((r) => chainEventEntry(positionText(r.position), r.body, schedule)))))
    } else if (options.workers === 0) {
      yield* Stream.runForEach(store.readAllRaw(), (rows) => Effect.sync(() => feed(rows.map((r) => chainEventEntry(positionText(r.position), r.body, schedule)))))
    } else {
      yield* verifyInWorkers(store, schedule, options.workers ?? Math.min(2, availableParallelism()), feed)
    }
    const writers = verifier
      .finish(witness.filter((w) => options.writer === undefined || w.writer === options.writer))
      .filter((w) => options.writer === undefined || w.writer === options.writer)
    return {
      ok: writers.every((w) => w.finding === null),
      mode: options.mode,
      records,
      writers,
      witness: options.witnessFile ? { file: options.witnessFile, checkpoints: witness.length } : null,
      seconds: (performance.now() - started) / 1000
    }
  })

// Chunks go round-robin to the workers; results are fed back strictly in store order.
const verifyInWorkers = (
  store: EventStoreShape,
  schedule: KeySchedule,
  threads: number,
  feed: (entries: ReadonlyArray<ChainEntry>) => void
) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Array.from({ length: Math.max(1, threads) }, () => spawnModuleWorker(siblingModule(import.meta.url, "verify-worker"), { schedule }))),
    (workers) =>
      Effect.gen(function* () {
        let nextId = 0
        const waiting = new Map<number, (entries: Array<ChainEntry>) => void>()
        const failures: Array<Error> = []
        for (const w of workers) {
          w.on("message", (m: { id: number; entries: Array<ChainEntry> }) => waiting.get(m.id)?.(m.entries))
          w.on("error", (e) => failures.push(e))
        }
        const inFlight: Array<Promise<Array<ChainEntry>>> = []
        const limit = workers.length * 2
        const send = (w: Worker, chunk: ReadonlyArray<{ position: Position; body: string }>) =>
          new Promise<Array<ChainEntry>>((resolve, reject) => {
            const id = nextId++
            waiting.set(id, (entries) => {
              waiting.delete(id)
              w.off("error", reject)
              resolve(entries)
            })
            w.once("error", reject)
            w.postMessage({ id, positions: chunk.map((c) => positionText(c.position)), bodies: chunk.map((c) => c.body) })
          })
        let turn = 0
        yield* Stream.runForEach(store.readAllRaw(undefined, 2048), (chunk) =>
          Effect.gen(function* () {
            inFlight.push(send(workers[turn++ % workers.length]!, chunk))
            while (inFlight.length >= limit) feed(yield* Effect.promise(() => inFlight.shift()!))
          })
        )
        while (inFlight.length > 0) feed(yield* Effect.promise(() => inFlight.shift()!))
        if (failures.length > 0) return yield* Effect.die(failures[0])
      }),
    (workers) => Effect.promise(() => Promise.all(workers.map((w) => w.terminate())))
  )
