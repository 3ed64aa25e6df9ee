// The CPU monitor: reads the sandbox's cgroup CPU time (cgroup v2 `cpu.stat`, `usage_usec`: user +
// system of every process in it or below, present without the cpu controller) every `intervalMs`
// (10 s by default) and on flush and stop, and records what was used since the previous reading as
// `CpuUsed`, which the policy engine counts against `daily_cpu_hours`. A reading that fails (the
// cgroup is gone: the sandbox was destroyed) records nothing; a failed append is retried with the
// next reading, which then covers both windows. The last recorded reading is kept in the monitor's
// state dir, so a monitor started again on the same cgroup (a restarted daemon) records what the
// sandbox used while none watched it, as a window from that reading.
import { Effect, Either, Schedule, Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { CpuUsed, MonitorStarted, MonitorStopped } from "../../../domain/monitors/monitor-events.js"
import { parseFlatKeyed } from "../../../runners/cgroups/layout.js"
import { MonitorUnavailable, type Monitor } from "../monitor.js"

export interface CpuMonitorOptions {
  readonly intervalMs?: number
}

/** usage_usec from cpu.stat's text (flat-keyed, as the cgroup layer reads it); null when absent or not a count. */
export const usageMicros = (cpuStat: string): number | null => {
  const value = parseFlatKeyed(cpuStat).get("usage_usec")
  return value !== undefined && Number.isSafeInteger(value) && value >= 0 ? value : null
}

/** The last reading recorded, as kept in the monitor's state dir. */
export const SavedReading = Schema.Struct({
  cgroup: Schema.String,
  usageUsec: Schema.NonNegativeInt,
  at: Schema.String.pipe(Schema.filter((at) => !Number.isNaN(Date.parse(at)), { message: () => "a date and time" }))
})
export type SavedReading = Schema.Schema.Type<typeof SavedReading>

/** A saved reading from the file's bytes; null for anything else (a torn write, another format). */
export const decodeSavedReading = (text: string): SavedReading | null => Either.getOrNull(Schema.decodeUnknownEither(Schema.parseJson(SavedReading))(text))

const READING_FILE = "cpu-reading.json"

const loadReading = (stateDir: string): SavedReading | null => {
  try {
    return decodeSavedReading(fs.readFileSync(path.join(stateDir, READING_FILE), "utf8"))
  } catch {
    return null
  }
}

// Best effort: a reading not saved only means a later monitor cannot count the time before it.
const saveReading = (stateDir: string, reading: SavedReading) => {
  try {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 })
    const temp = path.join(stateDir, `.${READING_FILE}.tmp`)
    fs.writeFileSync(temp, JSON.stringify(reading), { mode: 0o600 })
    fs.renameSync(temp, path.join(stateDir, READING_FILE))
  } catch {
    // the state dir is not writable: nothing to keep
  }
}

export const makeCpuMonitor = (options: CpuMonitorOptions = {}): Monitor => {
  const intervalMs = options.intervalMs ?? 10_000
  return {
    kind: "cpu",
    start: (target, sink) =>
      Effect.gen(function* () {
        const file = path.join(target.cgroup, "cpu.stat")
        const read = (): number | null => {
          try {
            return usageMicros(fs.readFileSync(file, "utf8"))
          } catch {
            return null
          }
        }
        const first = read()
        if (first === null) return yield* new MonitorUnavailable({ monitor: "cpu", reason: `cannot read usage_usec from ${file}` })
        // the same cgroup's counter never goes back: a saved reading above it is from another life of the path
        const saved = loadReading(target.stateDir)
        const resumed = saved !== null && saved.cgroup === target.cgroup && saved.usageUsec <= first ? saved : null
        let last = resumed?.usageUsec ?? first
        let lastAt = resumed?.at ?? new Date().toISOString()
        if (resumed === null) saveReading(target.stateDir, { cgroup: target.cgroup, usageUsec: last, at: lastAt })
        let observed = 0
        yield* sink
          .append([{ type: MonitorStarted.type, data: { sandboxId: target.sandboxId, monitor: "cpu", mechanism: `cgroup v2 cpu.stat usage_usec, read every ${intervalMs / 1000} s`, blindSpots: [] } }])
          .pipe(Effect.mapError((e) => new MonitorUnavailable({ monitor: "cpu", reason: e.message })))
        // One reading at a time: the timer, a flush and the stop may come together.
        const lock = yield* Effect.makeSemaphore(1)
        const sample = lock.withPermits(1)(
          Effect.gen(function* () {
            const now = read()
            const at = new Date().toISOString()
            if (now === null || now <= last) return
            const appended = yield* Effect.either(sink.append([{ type: CpuUsed.type, data: { sandboxId: target.sandboxId, seconds: (now - last) / 1e6, from: lastAt, to: at } }]))
            if (appended._tag === "Left") return
            last = now
            lastAt = at
            observed += 1
            saveReading(target.stateDir, { cgroup: target.cgroup, usageUsec: now, at })
          })
        )
        // what was used while no monitor watched goes in at once, not with the first timed reading
        if (resumed !== null) yield* sample
        yield* Effect.forkScoped(Effect.repeat(Effect.delay(sample, `${intervalMs} millis`), Schedule.forever))
        yield* Effect.addFinalizer(() =>
          sample.pipe(
            Effect.zipRight(sink.append([{ type: MonitorStopped.type, data: { sandboxId: target.sandboxId, monitor: "cpu", reason: "monitor stopped", observed } }])),
            Effect.ignore
          )
        )
        return { kind: "cpu" as const, flush: sample, observed: Effect.sync(() => observed) }
      })
  }
}
