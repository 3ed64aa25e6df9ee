// The file monitor: chokidar (inotify) on a sandbox's workspace; notifications are coalesced per path,
// and when a burst is due the path is read from disk as it is then (so the last event of a path has the
// hash of its final content) and recorded as FileChanged. Anything it may have missed — a full queue, a
// watcher error, the sink refusing a batch — becomes a MonitorGap followed by a rescan of the workspace
// that records every difference from the ledger's view, so the final hashes are right again.
import { watch } from "chokidar"
import * as fs from "node:fs"
import { Effect, Either, Fiber, Schedule, type Scope } from "effect"
import type { NewEvent } from "../../../domain/ledger/event-definition.js"
import type { BlobStore } from "../../blobs/blob-store.js"
import { MonitorUnavailable, type Monitor, type MonitorTarget, type ObservationSink, type RunningMonitor } from "../monitor.js"
import type { Observed } from "./changes.js"
import { forcedOut, makeCoalescer, type Burst } from "./coalescer.js"
import { readEntry, sameState, walkWorkspace, type ReadEntry } from "./file-state.js"
import { iso, makeRecorder } from "./recorder.js"
import { noteContents, onChokidarEvent, onRaw, type IntakeContext } from "./intake.js"

export interface FileMonitorOptions {
  /** Where diffs are stored (`<dataDir>/blobs`). */
  readonly blobs: BlobStore
  /** A path's burst ends after this long without notifications (default 50 ms). */
  readonly quietMs?: number
  /** …or once it is this old, for files written without pause (default 1 s). */
  readonly maxDelayMs?: number
  /** How often due bursts are looked for (default 20 ms). */
  readonly tickMs?: number
  /** Paths with a pending burst at most; past it notifications are dropped and a gap recorded (default 100,000). */
  readonly maxPendingPaths?: number
  /** Files up to this size that are UTF-8 text get diffs (default 256 KiB). */
  readonly textLimitBytes?: number
  /** Memory for previous texts to diff against (default 64 MiB). */
  readonly textCacheBytes?: number
  /** Events per sink append at most (default 1,000). */
  readonly maxBatch?: number
  /** While a watch could not be set up (e.g. inotify watches exhausted), rescan this often (default 2 s). */
  readonly degradedRescanMs?: number
}

export interface FileMonitorStats {
  /** chokidar notifications coalesced into bursts. */
  readonly notifications: number
  /** Differences found by a re-check or a rescan rather than a notification (each is one event's one write). */
  readonly synthetic: number
  /** Notifications dropped because the queue was full. */
  readonly dropped: number
  /** FileChanged events appended. */
  readonly events: number
  /** MonitorGap events appended. */
  readonly gaps: number
  readonly rescans: number
}

export interface RunningFileMonitor extends RunningMonitor {
  readonly stats: Effect.Effect<FileMonitorStats>
}

export interface FileMonitor extends Monitor {
  readonly start: (target: MonitorTarget, sink: ObservationSink) => Effect.Effect<RunningFileMonitor, MonitorUnavailable, Scope.Scope>
}

export const BLIND_SPOTS: ReadonlyArray<string> = [
  "the writing process is unknown (inotify does not report it): pid is always null",
  "a burst of writes to one path is one event with the content as it was when the burst ended; intermediate contents are not recorded",
  "a file created and deleted within one burst is recorded as deleted, with no content",
  "a rename is recorded as renamed only when the new path has the old inode and content; otherwise as deleted + created",
  "entries created and removed inside a directory that is itself removed before they were read",
  "contents before the monitor started are a baseline, not events"
]

const MECHANISM = "inotify (chokidar 4), coalesced per path, hashed on emit"

const messageOf = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

export const makeFileMonitor = (options: FileMonitorOptions): FileMonitor => {
  const quietMs = options.quietMs ?? 50
  const maxDelayMs = options.maxDelayMs ?? 1000
  const tickMs = options.tickMs ?? 20
  const textLimit = options.textLimitBytes ?? 256 * 1024
  // chokidar's `add`/`unlink` for a new or vanished directory's entries trail the directory event
  const settleMs = quietMs + 100
  const coalescing = { quietMs, maxDelayMs, maxPaths: options.maxPendingPaths ?? 100_000 }

  const start = (target: MonitorTarget, sink: ObservationSink) =>
    Effect.gen(function* () {
      const ws = target.workspaceDir
      const unavailable = (reason: string) => new MonitorUnavailable({ monitor: "files", reason })
      if (!fs.statSync(ws, { throwIfNoEntry: false })?.isDirectory()) return yield* unavailable(`workspace ${ws} is not a directory`)

      const coalescer = makeCoalescer(coalescing)
      const recorder = makeRecorder({ sandboxId: target.sandboxId, sink, blobs: options.blobs, maxBatch: options.maxBatch ?? 1000, textCacheBytes: options.textCacheBytes ?? 64 * 1024 * 1024 })
      const stats = { notifications: 0, synthetic: 0, dropped: 0, events: 0, gaps: 0, rescans: 0 }
      const gaps: Array<{ reason: string; lost: number | null; from: number; to: number }> = []
      const rechecks = new Map<string, number>()
      // taken out of the coalescer, not yet recorded: chokidar's late `add` for one is not news
      const inFlight = new Set<string>()
      let overflow: { from: number; dropped: number } | null = null
      let refused: { from: number; events: number; reason: string } | null = null
      let rescanWanted = false
      let degraded = false
      let nextDegradedRescan = 0
      const startedAt = Date.now()
      let lastNotificationAt = startedAt

      const watcher = watch(ws, { persistent: true, ignoreInitial: true, followSymlinks: false, atomic: false, awaitWriteFinish: false, usePolling: false })
      yield* Effect.addFinalizer(() => Effect.promise(() => watcher.close()))
      // Directories that appeared since the monitor last settled: their own watches start late (chokidar
      // sets them up asynchronously), so they are read again before the monitor calls itself settled.
      const fresh = new Set<string>()
      const intake: IntakeContext = {
        workspaceDir: ws,
        appeared: (rel) => void fresh.add(rel),
        knownInode: (ino) => {
          for (const state of recorder.recorded.values()) if (state.ino === ino) return true
          return false
        },
        pending: (key) => coalescer.has(key) || inFlight.has(key),
        recorded: (key) => recorder.recorded.has(key),
        note: (key, isAdd) => {
          const at = Date.now()
          lastNotificationAt = at
          if (coalescer.note(key, at, isAdd) !== "dropped") stats.notifications++
          else {
            stats.dropped++
            overflow = { from: overflow?.from ?? at, dropped: (overflow?.dropped ?? 0) + 1 }
          }
        }
      }
      watcher.on("raw", (event, name, details) => onRaw(intake, event, name, (details as { readonly watchedPath: string }).watchedPath))
      watcher.on("all", (event, file) => onChokidarEvent(intake, event, file))
      watcher.on("error", (error) => {
        const code = (error as NodeJS.ErrnoException).code
        // without a watch, changes under that directory are only seen by rescans
        if (code === "ENOSPC" || code === "EMFILE") degraded = true
        const at = Date.now()
        gaps.push({ reason: `watcher error${code ? ` ${code}` : ""}: ${messageOf(error)}${degraded ? " (rescanning periodically from now on)" : ""}`, lost: null, from: at, to: at })
      })
      yield* Effect.async<void>((resume) => {
        watcher.once("ready", () => resume(Effect.void))
      }).pipe(
        Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => unavailable(`watching ${ws} did not become ready within 60 s`) })
      )

      const baseline = yield* Effect.try({ try: () => walkWorkspace(ws, textLimit), catch: (cause) => unavailable(`cannot read workspace ${ws}: ${messageOf(cause)}`) })
      recorder.baseline(baseline)
      const append = (events: ReadonlyArray<NewEvent>) => sink.append(events)
      yield* append([{ type: "MonitorStarted", data: { sandboxId: target.sandboxId, monitor: "files", mechanism: MECHANISM, blindSpots: BLIND_SPOTS } }]).pipe(
        Effect.mapError((error) => unavailable(error.message))
      )

      /** Reads each path's state now; a path that cannot be read is left out and reported as a gap. */
      const readAll = (keys: Iterable<string>, now: number) => {
        const read = new Map<string, ReadEntry | null>()
        for (const key of keys) {
          try {
            read.set(key, readEntry(ws, key, textLimit))
          } catch (cause) {
            gaps.push({ reason: `cannot read ${key}: ${messageOf(cause)}`, lost: null, from: now, to: now })
          }
        }
        return read
      }

      const observe = (burst: Burst | undefined, key: string, entry: ReadEntry | null, now: number): Observed => ({
        path: key,
        writes: burst?.writes ?? 1,
        firstAt: burst?.firstAt ?? now,
        lastAt: burst?.lastAt ?? now,
        before: recorder.recorded.get(key),
        after: entry?.state ?? null
      })

      /** The bursts due now, re-checks of paths flushed while still being written, and rename halves still pending. */
      const dueObservations = (now: number, final: boolean) => {
        const bursts = final ? coalescer.drain() : coalescer.due(now)
        for (const burst of bursts) if (!final && forcedOut(burst, now, coalescing)) rechecks.set(burst.path, now + settleMs)
        const byPath = new Map(bursts.map((b) => [b.path, b]))
        const read = readAll(byPath.keys(), now)
        const observed: Array<Observed> = []
        for (const [key, entry] of read) observed.push(observe(byPath.get(key), key, entry, now))
        for (const [key, dueAt] of rechecks) {
          if (!final && dueAt > now) continue
          rechecks.delete(key)
          if (byPath.has(key)) continue
          const entry = readAll([key], now).get(key)
          if (entry === undefined || sameState(recorder.recorded.get(key), entry?.state ?? null)) continue
          stats.synthetic++
          observed.push(observe(undefined, key, entry, now))
          read.set(key, entry)
        }
        // `mv a b`: the burst of `a` may be due a tick before the burst of `b`; pull `b` in to pair them
        const deletedInodes = new Set(observed.flatMap((o) => (o.after === null && o.before !== undefined ? [o.before.ino] : [])))
        if (deletedInodes.size > 0) {
          const candidates = [...coalescer.pending()].filter((b) => b.beganWithAdd).slice(0, 64)
          for (const [key, entry] of readAll(candidates.map((b) => b.path), now)) {
            if (entry === null || !deletedInodes.has(entry.state.ino)) continue
            observed.push(observe(coalescer.take(key), key, entry, now))
            read.set(key, entry)
          }
        }
        return { observed, read }
      }

      /** Every path that differs from the recorded state, plus every pending burst (its notifications are counted there). */
      const rescanObservations = (now: number) => {
        stats.rescans++
        rechecks.clear()
        const bursts = new Map(coalescer.drain().map((b) => [b.path, b]))
        const read = new Map<string, ReadEntry | null>()
        try {
          for (const [key, entry] of walkWorkspace(ws, textLimit)) read.set(key, entry)
        } catch (cause) {
          gaps.push({ reason: `rescan of ${ws} failed: ${messageOf(cause)}`, lost: null, from: now, to: now })
        }
        const observed: Array<Observed> = []
        for (const key of new Set([...recorder.recorded.keys(), ...read.keys(), ...bursts.keys()])) {
          const entry = read.get(key) ?? null
          const burst = bursts.get(key)
          if (burst === undefined && sameState(recorder.recorded.get(key), entry?.state ?? null)) continue
          if (burst === undefined) stats.synthetic++
          observed.push(observe(burst, key, entry, now))
          read.set(key, entry)
        }
        return { observed, read }
      }

      /** Gaps known so far become MonitorGap events (first, so they precede the rescan they cause). */
      const reportGaps = (now: number) =>
        Effect.gen(function* () {
          if (overflow !== null) {
            gaps.push({ reason: `internal queue full (${coalescing.maxPaths} paths pending): ${overflow.dropped} notifications dropped`, lost: null, from: overflow.from, to: now })
            overflow = null
          }
          if (refused !== null) {
            gaps.push({ reason: `the ledger refused ${refused.events} events: ${refused.reason}`, lost: refused.events, from: refused.from, to: now })
            refused = null
          }
          if (gaps.length === 0) return
          const reported = gaps.splice(0)
          const events = reported.map((g) => ({ type: "MonitorGap", data: { sandboxId: target.sandboxId, monitor: "files", reason: g.reason, lost: g.lost, from: iso(g.from), to: iso(g.to) } }))
          const result = yield* Effect.either(append(events))
          if (Either.isLeft(result)) {
            gaps.unshift(...reported)
            return
          }
          stats.gaps += reported.length
          rescanWanted = true
        })

      /** At stop: anything still differing from the ledger's view was missed (e.g. an inotify queue overflow, which Node does not report). */
      const verify = Effect.gen(function* () {
        const before = stats.synthetic
        const gapAlreadyReported = rescanWanted
        const { observed, read } = rescanObservations(Date.now())
        if (observed.length === 0) return
        if (!gapAlreadyReported) gaps.push({ reason: `the closing rescan found ${stats.synthetic - before} differences no notification reported`, lost: stats.synthetic - before, from: startedAt, to: Date.now() })
        yield* reportGaps(Date.now())
        rescanWanted = false
        yield* recordObserved(observed, read, Date.now(), true)
      })

      const recordObserved = (observed: ReadonlyArray<Observed>, read: ReadonlyMap<string, ReadEntry | null>, now: number, final: boolean) =>
        Effect.gen(function* () {
          if (observed.length === 0) return
          for (const o of observed) inFlight.add(o.path)
          const texts = new Map([...read].map(([key, entry]) => [key, entry?.text ?? null]))
          const outcome = yield* recorder.record(observed, texts).pipe(Effect.ensuring(Effect.sync(() => inFlight.clear())))
          stats.events += outcome.appended
          for (const reason of outcome.diffFailures) gaps.push({ reason, lost: null, from: now, to: now })
          if (outcome.refused !== null) refused = { from: refused?.from ?? now, events: (refused?.events ?? 0) + outcome.refused.events, reason: outcome.refused.reason }
          if (final) yield* reportGaps(Date.now())
        })

      const round = (final: boolean) =>
        Effect.gen(function* () {
          const now = Date.now()
          yield* reportGaps(now)
          if (gaps.length > 0 && !final) return
          const periodic = degraded && now >= nextDegradedRescan
          if (periodic) nextDegradedRescan = now + (options.degradedRescanMs ?? 2000)
          const { observed, read } = rescanWanted || periodic ? rescanObservations(now) : dueObservations(now, final)
          rescanWanted = false
          yield* recordObserved(observed, read, now, final)
        })

      const lock = yield* Effect.makeSemaphore(1)
      const locked = (final: boolean) => lock.withPermits(1)(Effect.uninterruptible(round(final)))
      const loop = yield* Effect.forkScoped(locked(false).pipe(Effect.repeat(Schedule.spaced(`${tickMs} millis`))))

      const settled = () => Date.now() - lastNotificationAt >= settleMs && coalescer.size() === 0 && rechecks.size === 0 && gaps.length === 0 && overflow === null && refused === null && !rescanWanted
      // waits one settle period at least: notifications of writes made just before may still be on their way
      /** Reads the fresh directories again; true when that noted something (then not settled yet). */
      const recheckFresh = () => {
        const before = stats.notifications + stats.dropped
        for (const dir of fresh) noteContents(intake, dir)
        const found = stats.notifications + stats.dropped > before
        if (!found) fresh.clear()
        return found
      }
      const flush = Effect.gen(function* () {
        const since = Date.now()
        for (;;) {
          if (Date.now() - since >= settleMs && settled() && !recheckFresh() && (yield* lock.withPermits(1)(Effect.sync(settled)))) return
          yield* Effect.sleep(`${tickMs} millis`)
        }
      })

      yield* Effect.addFinalizer(() =>
        Effect.gen(function* () {
          yield* Fiber.interrupt(loop)
          yield* Effect.promise(() => watcher.close())
          yield* Effect.sync(recheckFresh)
          yield* locked(true)
          yield* lock.withPermits(1)(Effect.uninterruptible(verify))
          yield* append([{ type: "MonitorStopped", data: { sandboxId: target.sandboxId, monitor: "files", reason: "monitor scope closed", observed: stats.events + stats.gaps } }]).pipe(
            Effect.catchAll((error) => Effect.logWarning(`files monitor: MonitorStopped not recorded: ${error.message}`))
          )
        })
      )

      return {
        kind: "files",
        flush,
        observed: Effect.sync(() => stats.events + stats.gaps),
        stats: Effect.sync(() => ({ ...stats }))
      } satisfies RunningFileMonitor
    })

  return { kind: "files", start }
}
