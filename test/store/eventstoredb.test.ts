// The store conformance suite, unchanged, against the EventStoreDB adapter: always over the gRPC
// protocol double (as a 24.10 server with BatchAppend, and as a 20.10 server without it), and against
// a real server when HYDRAVISOR_ESDB_URL is set (each test in a namespace of its own).
import { randomUUID } from "node:crypto"
import { describe } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { EventStoreDbStoreLive } from "../../src/adapters/store/eventstoredb/eventstoredb-store.js"
import { storeConformance } from "./conformance.js"
import { esdbDouble } from "./esdb-double/esdb-double.js"

const overDouble = (batchAppend: boolean) => () =>
  Layer.unwrapScoped(Effect.map(esdbDouble({ batchAppend }), (d) => EventStoreDbStoreLive({ connection: d.connection })))

describe("EventStoreDB adapter over the protocol double", () => {
  storeConformance("eventstoredb (double, BatchAppend)", overDouble(true))
  storeConformance("eventstoredb (double, Append only)", overDouble(false))
})

const url = process.env["HYDRAVISOR_ESDB_URL"]
// Registered only with a server to talk to, so that a CI run without one reports nothing skipped.
if (url !== undefined)
  describe("EventStoreDB adapter against a real server", () => {
    storeConformance("eventstoredb (server)", () => EventStoreDbStoreLive({ connection: url, namespace: `hv-test-${randomUUID()}` }))
  })
