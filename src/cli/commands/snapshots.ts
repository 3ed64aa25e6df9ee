// The snapshot verbs: `snapshot NAME` copies a sandbox's workspace, `snapshot NAME --list` lists the
// recorded snapshots, `rollback NAME --to ID` puts one back. Each is one request to the daemon,
// which records WorkspaceSnapshotted / WorkspaceRolledBack with the content hash.
import { Command, Options } from "@effect/cli"
import { Effect } from "effect"
import { SnapshotId, type Rollback, type Snapshot } from "../../adapters/sandbox/snapshots.js"
import { viaDaemon } from "../daemon-call.js"
import { dataDirOption, jsonOption, sandboxArg } from "../options.js"
import { printJson, printTable, say } from "../output.js"


const snapshot = Command.make(
  "snapshot",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    list: Options.boolean("list").pipe(Options.withDescription("list the sandbox's recorded snapshots instead of taking one")),
    sandbox: sandboxArg
  },
  (o) =>
    Effect.gen(function* () {
      if (o.list) {
        const rows = (yield* viaDaemon(o.dataDir, { _tag: "Snapshots", sandbox: o.sandbox }, `listing snapshots of ${o.sandbox}`)) as ReadonlyArray<Snapshot>
        if (o.json) return yield* printJson(rows)
        if (rows.length === 0) return yield* say(`no snapshots of ${o.sandbox}`)
        return yield* printTable(
          ["SNAPSHOT", "CREATED", "BY", "CONTENT SHA-256", "ON DISK"],
          rows.map((s) => [s.snapshotId, s.createdAt, `${s.actor.kind}:${s.actor.id}`, s.contentHash, s.available ? "yes" : "no"])
        )
      }
      const taken = (yield* viaDaemon(o.dataDir, { _tag: "Snapshot", sandbox: o.sandbox }, `snapshotting ${o.sandbox}`)) as Snapshot
      yield* o.json ? printJson(taken) : say(`${taken.snapshotId} ${taken.contentHash}`)
    })
).pipe(Command.withDescription("Copy a sandbox's workspace (recorded with its content hash); prints the snapshot id and hash. --list shows earlier ones."))

const rollback = Command.make(
  "rollback",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    to: Options.text("to").pipe(Options.withSchema(SnapshotId), Options.withDescription("the snapshot id, as `snapshot` printed it")),
    sandbox: sandboxArg
  },
  (o) =>
    Effect.gen(function* () {
      const done = (yield* viaDaemon(o.dataDir, { _tag: "Rollback", sandbox: o.sandbox, snapshotId: o.to }, `rolling ${o.sandbox} back`)) as Rollback
      yield* o.json ? printJson(done) : say(`${o.sandbox}: workspace restored from ${done.snapshotId} (content ${done.contentHash})`)
    })
).pipe(Command.withDescription("Replace a sandbox's workspace with a snapshot's copy (recorded with the restored content's hash)."))

export const snapshotCommands = [snapshot, rollback] as const
