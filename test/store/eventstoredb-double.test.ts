// The EventStoreDB protocol double itself, driven through the real client over gRPC: the server rules
// the adapter relies on (expected revisions, idempotent retries by event id, $all positions, reads
// and subscriptions), as EventStoreDB documents them.
import { EventStoreDBClient, jsonEvent, START, type AllStreamResolvedEvent } from "@eventstore/db-client"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { esdbDouble } from "./esdb-double/esdb-double.js"

const withClient = <A>(f: (client: EventStoreDBClient, double: Effect.Effect.Success<ReturnType<typeof esdbDouble>>) => Promise<A>, batchAppend = true) =>
  Effect.gen(function* () {
    const double = yield* esdbDouble({ batchAppend })
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => EventStoreDBClient.connectionString(double.connection)),
      (c) => Effect.promise(() => c.dispose())
    )
    return yield* Effect.promise(() => f(client, double))
  }).pipe(Effect.scoped)

const collect = async <A>(it: AsyncIterable<A>): Promise<Array<A>> => {
  const out: Array<A> = []
  for await (const x of it) out.push(x)
  return out
}

const event = (id: string, n = 0) => jsonEvent({ id, type: "Happened", data: { n } })
const ids = Array.from({ length: 4 }, (_, i) => `0190a5c4-0000-7000-8000-00000000000${i}`)

for (const batchAppend of [true, false]) {
  describe(`EventStoreDB protocol double (${batchAppend ? "BatchAppend" : "Append only"})`, () => {
    it.live("appends with expected revisions and reports the last revision and its $all position", () =>
      withClient(async (client) => {
        const first = await client.appendToStream("thing-1", [event(ids[0]!), event(ids[1]!)], { expectedRevision: "no_stream" })
        expect(first.nextExpectedRevision).toBe(1n)
        expect(first.position!.commit).toBe(first.position!.prepare)
        const wrong = await client.appendToStream("thing-1", event(ids[2]!), { expectedRevision: 5n }).catch((e: unknown) => e)
        expect(wrong).toMatchObject({ type: "wrong-expected-version", actualVersion: 1n })
        const next = await client.appendToStream("thing-1", event(ids[2]!), { expectedRevision: 1n })
        expect(next.nextExpectedRevision).toBe(2n)
        expect(next.position!.commit > first.position!.commit).toBe(true)
      }, batchAppend)
    )

    it.live("takes a retry of the same event ids at the same expected revision as done, without writing again", () =>
      withClient(async (client, double) => {
        const first = await client.appendToStream("thing-1", [event(ids[0]!), event(ids[1]!)], { expectedRevision: "no_stream" })
        const retry = await client.appendToStream("thing-1", [event(ids[0]!), event(ids[1]!)], { expectedRevision: "no_stream" })
        expect(retry).toEqual(first)
        const anyRetry = await client.appendToStream("thing-1", [event(ids[0]!), event(ids[1]!)], { expectedRevision: "any" })
        expect(anyRetry.nextExpectedRevision).toBe(1n)
        const other = await client.appendToStream("thing-1", [event(ids[3]!)], { expectedRevision: "no_stream" }).catch((e: unknown) => e)
        expect(other).toMatchObject({ type: "wrong-expected-version" })
        const partly = await client.appendToStream("thing-1", [event(ids[0]!), event(ids[3]!)], { expectedRevision: "no_stream" }).catch((e: unknown) => e)
        expect(partly).toMatchObject({ type: "wrong-expected-version" })
        expect(double.log.events.filter((e) => e.stream === "thing-1").length).toBe(2)
      }, batchAppend)
    )
  })
}

describe("EventStoreDB protocol double: reads", () => {
  it.live("reads $all from a position including it, and starts with the server's own system events", () =>
    withClient(async (client) => {
      for (const [i, id] of ids.entries()) await client.appendToStream(`thing-${i % 2}`, event(id, i))
      const all = await collect(client.readAll({ fromPosition: START }))
      expect(all.slice(0, 2).every((r) => r.event!.type.startsWith("$"))).toBe(true)
      const mine = all.filter((r) => !r.event!.type.startsWith("$"))
      expect(mine.map((r) => r.event!.id)).toEqual(ids)
      const from = mine[1]!.event!.position
      const after = await collect(client.readAll({ fromPosition: from, maxCount: 2 }))
      expect(after.map((r) => r.event!.id)).toEqual(ids.slice(1, 3))
      const backwards = await collect(client.readStream("thing-0", { direction: "backwards", fromRevision: "end", maxCount: 1 }))
      expect(backwards[0]!.event!.revision).toBe(1n)
      const missing = await collect(client.readStream("thing-none")).catch((e: unknown) => e)
      expect(missing).toMatchObject({ type: "stream-not-found" })
    })
  )

  it.live("subscribes to $all after a position: catches up, says so, then delivers new events", () =>
    withClient(async (client) => {
      await client.appendToStream("thing-0", [event(ids[0]!), event(ids[1]!)])
      const [firstMine] = (await collect(client.readAll())).filter((r) => r.event!.id === ids[0])
      const subscription = client.subscribeToAll({ fromPosition: firstMine!.event!.position })
      const seen: Array<AllStreamResolvedEvent> = []
      let caughtUpAfter = -1
      subscription.on("caughtUp", () => (caughtUpAfter = seen.length))
      for await (const e of subscription) {
        seen.push(e)
        if (seen.length === 1) await client.appendToStream("thing-1", [event(ids[2]!)])
        if (seen.length === 2) break
      }
      expect(seen.map((e) => e.event!.id)).toEqual([ids[1], ids[2]])
      expect(caughtUpAfter).toBe(1)
    })
  )

  it.live("refuses an append over the maximum append size", () =>
    withClient(async (client) => {
      const big = jsonEvent({ type: "Big", data: { text: "x".repeat(1_100_000) } })
      const refused = await client.appendToStream("thing-big", big).catch((e: unknown) => e)
      expect(refused).toMatchObject({ type: "maximum-append-size-exceeded" })
    })
  )
})
