// Verification worker: decodes stored records, re-derives their hashes and checks their signatures
// under the key the schedule names for (writer, seq). The main thread checks order and links.
import { createPublicKey, verify, type KeyObject } from "node:crypto"
import { parentPort, workerData } from "node:worker_threads"
import { recordHash } from "../../domain/ledger/hash.js"
import { decodeLedgerRecordJson } from "../../domain/ledger/record.js"
import { summarize, type KeySchedule, type WorkerRequest } from "./verify-protocol.js"

const SPKI = Buffer.from("302a300506032b6570032100", "hex")
const keys = new Map<string, KeyObject>()
const keyObject = (hex: string) => {
  let k = keys.get(hex)
  if (!k) {
    k = createPublicKey({ key: Buffer.concat([SPKI, Buffer.from(hex, "hex")]), format: "der", type: "spki" })
    keys.set(hex, k)
  }
  return k
}

let schedule: KeySchedule = (workerData as { schedule: KeySchedule }).schedule

parentPort!.on("message", (msg: WorkerRequest) => {
  if (msg.schedule) schedule = msg.schedule
  const entries = msg.bodies.map((body, i) =>
    summarize(msg.positions[i]!, body, decodeLedgerRecordJson, recordHash, schedule, (pub, hash, sig) =>
      verify(null, Buffer.from(hash, "hex"), keyObject(pub), Buffer.from(sig, "hex"))
    )
  )
  parentPort!.postMessage({ id: msg.id, entries })
})
