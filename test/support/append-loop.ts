// A child process for the crash test: appends forever from several concurrent appenders and prints
// "ack <id> <seq>" for every record whose append was acknowledged: durable, or for the two appenders
// that append as monitors do (deferred: not waiting for the disk), committed to the OS.
import { Effect } from "effect"
import { Ledger } from "../../src/adapters/ledger/ledger.js"
import { ledgerLayer } from "./ledger-fixture.js"

const dataDir = process.argv[2]!

const appender = (n: number) =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    for (let i = 0; ; i++) {
      const records = yield* ledger.append(`sandbox-w${n}`, [{ type: "CommandExecuted", data: { i, n, argv: ["true"] }, sensitive: ["argv"] }], {
        actor: { kind: "system", id: "crash" },
        ...(n >= 2 ? { durability: "deferred" as const } : {})
      })
      for (const r of records) process.stdout.write(`ack ${r.id} ${r.chain.seq}\n`)
    }
  })

Effect.runPromise(
  Effect.all([0, 1, 2, 3].map(appender), { concurrency: "unbounded" }).pipe(Effect.provide(ledgerLayer(dataDir, { checkpointEveryRecords: 64 })), Effect.scoped)
).catch((e) => {
  process.stderr.write(`append-loop: ${String(e)}\n`)
  process.exit(1)
})
