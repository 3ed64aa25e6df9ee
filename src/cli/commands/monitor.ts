// `hydravisor monitor`: what happened in sandboxes, from the ledger. Without --real-time it prints the
// recorded events that match and exits; with it, it then follows new events as they are recorded
// (one JSON object per line with --json). Reads the store read-only: it never blocks the daemon.
// Sensitive fields print as their value while sealed and as `{ "$redacted": … }` once redacted.
import { Command, Options } from "@effect/cli"
import { Console, Effect, Either, Option, Stream } from "effect"
import { eventDefinitions } from "../../domain/events/catalogue.js"
import { unsealData } from "../../domain/events/redactable.js"
import type { LedgerRecord } from "../../domain/ledger/record.js"
import { alertLevels, groups, matches, parseSince, parseTypes, sandboxIdOf, type EventFilter } from "../../projections/event-filter.js"
import { resolveDataDir } from "../data-dir.js"
import { summarize } from "../event-summary.js"
import { dataDirOption } from "../options.js"
import { withReadOnlyStore } from "../stores.js"

const options = {
  dataDir: dataDirOption,
  json: Options.boolean("json").pipe(Options.withDescription("one JSON object per line (JSON Lines) instead of text")),
  sandbox: Options.text("sandbox").pipe(Options.withDescription("only events of this sandbox (name or id)"), Options.optional),
  type: Options.text("type").pipe(
    Options.withDescription(`only these event types or groups, comma-separated: ${Object.keys(groups).join(", ")}, or a type such as FileChanged`),
    Options.optional
  ),
  since: Options.text("since").pipe(Options.withDescription("only events at or after this time: RFC 3339, or a duration back from now (30s, 10m, 2h, 7d)"), Options.optional),
  realTime: Options.boolean("real-time").pipe(Options.withDescription("after the recorded events, keep printing new ones as they are recorded (Ctrl-C ends)")),
  alertOn: Options.choice("alert-on", alertLevels).pipe(
    Options.withDescription("only alerts: policy violations of this severity or worse; suspicious-activity also shows denied connections, refused commands and access, monitor gaps"),
    Options.optional
  ),
  store: Options.text("store").pipe(Options.withDescription("read another store (sqlite:PATH or esdb://…) instead of the data dir's"), Options.optional)
}

const fromEither = <A, E>(e: Either.Either<A, E>) => Either.match(e, { onLeft: Effect.fail, onRight: Effect.succeed })

export const monitorCommand = Command.make("monitor", options, (o) =>
  Effect.gen(function* () {
    const now = Date.now()
    const filter: EventFilter = {
      sandbox: Option.getOrNull(o.sandbox),
      types: Option.isSome(o.type) ? yield* fromEither(parseTypes(o.type.value, eventDefinitions.map((d) => d.type))) : null,
      since: Option.isSome(o.since) ? yield* fromEither(parseSince(o.since.value, now)) : null,
      alertOn: Option.getOrNull(o.alertOn)
    }
    const dataDir = resolveDataDir(o.dataDir)
    // Names come from SandboxRequested, which precedes every other record of its sandbox.
    const names = new Map<string, string>()
    const nameOf = (id: string) => names.get(id)
    let printed = 0
    const handle = (record: LedgerRecord) =>
      Effect.suspend(() => {
        if (record.type === "SandboxRequested" && typeof record.data["name"] === "string") names.set(sandboxIdOf(record) ?? "", record.data["name"])
        if (!matches(filter, record, nameOf)) return Effect.void
        printed++
        const sandboxId = sandboxIdOf(record)
        if (o.json) {
          return Console.log(JSON.stringify({ seq: record.chain.seq, id: record.id, at: record.at, stream: record.stream, type: record.type, sandboxId, sandbox: sandboxId === null ? null : nameOf(sandboxId) ?? null, actor: record.actor, data: unsealData(record.data) }))
        }
        const who = sandboxId === null ? "-" : nameOf(sandboxId) ?? sandboxId.slice(0, 12)
        return Console.log(`${record.at}  ${who}  ${record.type}  ${summarize(record)}`)
      })
    yield* withReadOnlyStore(dataDir, Option.getOrUndefined(o.store), (store) =>
      Stream.runForEach(o.realTime ? store.subscribeAll() : store.readAll(), ({ record }) => handle(record))
    )
    if (!o.json && printed === 0) yield* Console.error("no recorded events match")
  })
).pipe(
  Command.withDescription("Show what happened in sandboxes: file changes, processes, connections, policy violations, monitor gaps, commands and lifecycle; --real-time follows new events.")
)
