// Ed25519 signing spread over worker threads: one core signs ~25,000/s here, so the writer keeps the
// hash chain on the main thread and signs each batch's hashes in parallel (same key, same bytes).
import { availableParallelism } from "node:os"
import { Worker } from "node:worker_threads"
import { sign, type KeyObject } from "node:crypto"
import { Effect } from "effect"

// Self-contained (eval) so it runs the same from src/ under tsx and from dist/.
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads")
const { createPrivateKey, sign } = require("node:crypto")
let key = createPrivateKey({ key: Buffer.from(workerData.pkcs8), format: "der", type: "pkcs8" })
parentPort.on("message", (msg) => {
  if (msg.pkcs8) { key = createPrivateKey({ key: Buffer.from(msg.pkcs8), format: "der", type: "pkcs8" }); return }
  const out = new Array(msg.hashes.length)
  for (let i = 0; i < msg.hashes.length; i++) out[i] = sign(null, Buffer.from(msg.hashes[i], "hex"), key).toString("hex")
  parentPort.postMessage({ id: msg.id, sigs: out })
})`

const INLINE_BELOW = 8

export interface SignerPool {
  readonly sign: (hashes: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>>
  /** The signatures now, on this thread, for a batch too small to be worth the workers; else null. */
  readonly signInline: (hashes: ReadonlyArray<string>) => ReadonlyArray<string> | null
  readonly setKey: (privateKey: KeyObject, pkcs8: Buffer) => Effect.Effect<void>
}

export const makeSignerPool = (privateKey: KeyObject, pkcs8: Buffer, threads = Math.min(2, availableParallelism())) =>
  Effect.gen(function* () {
    let key = privateKey
    const workers = yield* Effect.acquireRelease(
      Effect.sync(() =>
        Array.from({ length: Math.max(1, threads) }, () => {
          const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { pkcs8 } })
          w.unref()
          return w
        })
      ),
      (ws) => Effect.promise(() => Promise.all(ws.map((w) => w.terminate())))
    )
    let nextId = 0
    const pending = new Map<number, (sigs: Array<string>) => void>()
    for (const w of workers) w.on("message", (m: { id: number; sigs: Array<string> }) => pending.get(m.id)?.(m.sigs))

    const onWorker = (w: Worker, hashes: ReadonlyArray<string>) =>
      new Promise<Array<string>>((resolve, reject) => {
        const id = nextId++
        const fail = (e: Error) => reject(e)
        w.once("error", fail)
        pending.set(id, (sigs) => {
          pending.delete(id)
          w.off("error", fail)
          resolve(sigs)
        })
        w.postMessage({ id, hashes })
      })

    const signInline = (hashes: ReadonlyArray<string>): ReadonlyArray<string> | null =>
      hashes.length < INLINE_BELOW ? hashes.map((h) => sign(null, Buffer.from(h, "hex"), key).toString("hex")) : null
    const signAll = (hashes: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<string>> =>
      Effect.suspend(() => {
        const now = signInline(hashes)
        if (now !== null) return Effect.succeed(now)
        const per = Math.ceil(hashes.length / workers.length)
        return Effect.promise(() =>
          Promise.all(workers.map((w, i) => onWorker(w, hashes.slice(i * per, (i + 1) * per)))).then((parts) => parts.flat())
        )
      })
    const pool: SignerPool = {
      sign: signAll,
      signInline,
      setKey: (next, nextPkcs8) =>
        Effect.sync(() => {
          key = next
          for (const w of workers) w.postMessage({ pkcs8: nextPkcs8 })
        })
    }
    return pool
  })
