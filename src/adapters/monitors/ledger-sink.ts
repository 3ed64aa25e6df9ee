// The ObservationSink the daemon gives monitors: appends to the sandbox's observations stream as the
// `monitor` actor. Any ledger failure becomes a MonitorSinkError (the monitor then reports a gap).
// Observations are deferred appends: they do not wait for the disk (an exec's own records, which do,
// make them durable too, or the store's background sync does a millisecond later; docs/decisions.md).
import { Effect } from "effect"
import { sensitiveFields } from "../../domain/events/catalogue.js"
import { observationStream } from "../../domain/monitors/monitor-events.js"
import type { LedgerShape } from "../ledger/ledger.js"
import { MonitorSinkError, type ObservationSink } from "./monitor.js"

export const ledgerSink = (ledger: LedgerShape, sandboxId: string, monitor: string): ObservationSink => ({
  append: (events) =>
    events.length === 0
      ? Effect.succeed([])
      : ledger
          .append(
            observationStream(sandboxId),
            events.map((e) => ({ type: e.type, data: e.data, sensitive: e.sensitive ?? sensitiveFields(e.type) })),
            { actor: { kind: "monitor", id: monitor }, durability: "deferred" }
          )
          .pipe(Effect.mapError((error) => new MonitorSinkError({ reason: error.message })))
})
