// What containerd's event stream says about our tasks: OOM kills per container and which processes
// exited. A supervised fiber keeps one subscription open (re-subscribing after containerd restarts);
// exec uses it to report an OOM kill with containerd's own reason, not a guess from the exit status.
import { Deferred, Duration, Effect, Either, FiberId, Schedule, Schema, Stream } from "effect"
import type { Scope } from "effect"
import type { ContainerdClient } from "./client.js"
import { Envelope, subscribeFilters, taskEventOf } from "./mapping.js"
import type { TaskEvent } from "./mapping.js"

export interface TaskEventLog {
  /** OOM events seen for the container since this runner started. */
  readonly oomCount: (containerId: string) => number
  /** Resolves once containerd reported the process's exit, or after `timeoutMs` (false then). */
  readonly awaitExit: (containerId: string, processId: string, timeoutMs: number) => Effect.Effect<boolean>
  readonly forget: (containerId: string) => void
}

const decodeEnvelope = Schema.decodeUnknownEither(Envelope)

export const followTaskEvents = (client: ContainerdClient): Effect.Effect<TaskEventLog, never, Scope.Scope> =>
  Effect.gen(function* () {
    const ooms = new Map<string, number>()
    /** Exits arrive before or after someone waits for them; unclaimed ones are dropped after a minute. */
    const exits = new Map<string, { readonly deferred: Deferred.Deferred<void>; readonly at: number }>()
    const key = (containerId: string, processId: string) => `${containerId}\0${processId}`
    const exitSignal = (k: string) => {
      let entry = exits.get(k)
      if (entry === undefined) {
        entry = { deferred: Deferred.unsafeMake<void>(FiberId.none), at: Date.now() }
        exits.set(k, entry)
      }
      return entry.deferred
    }
    const pruneUnclaimed = () => {
      const cutoff = Date.now() - 60_000
      for (const [k, entry] of exits) if (entry.at < cutoff) exits.delete(k)
    }

    const record = (event: TaskEvent) =>
      Effect.sync(() => {
        if (event.kind === "oom") {
          ooms.set(event.containerId, (ooms.get(event.containerId) ?? 0) + 1)
          return
        }
        pruneUnclaimed()
        Deferred.unsafeDone(exitSignal(key(event.containerId, event.processId)), Effect.void)
      })

    yield* client.subscribe(subscribeFilters(client.namespace)).pipe(
      Stream.map((raw) => Either.getOrNull(decodeEnvelope(raw))),
      Stream.map((envelope) => (envelope === null ? null : taskEventOf(envelope))),
      Stream.runForEach((event) => (event === null ? Effect.void : record(event))),
      Effect.retry(Schedule.spaced(Duration.seconds(1))),
      Effect.forkScoped
    )

    return {
      oomCount: (containerId) => ooms.get(containerId) ?? 0,
      awaitExit: (containerId, processId, timeoutMs) => {
        const k = key(containerId, processId)
        return Deferred.await(exitSignal(k)).pipe(
          Effect.timeoutOption(Duration.millis(timeoutMs)),
          Effect.map((seen) => seen._tag === "Some"),
          Effect.ensuring(Effect.sync(() => exits.delete(k)))
        )
      },
      forget: (containerId) => {
        ooms.delete(containerId)
        for (const k of exits.keys()) if (k.startsWith(`${containerId}\0`)) exits.delete(k)
      }
    }
  })
