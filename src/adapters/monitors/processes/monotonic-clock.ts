// Kernel trace times (CLOCK_MONOTONIC ns, bpftrace's `nsecs`) as RFC 3339 wall-clock times.
// Node's hrtime reads the same clock, so one offset taken at start converts every later time.
import type { TrackerClock } from "./process-tracker.js"

export const monotonicNowNs = (): number => Number(process.hrtime.bigint())

export const makeMonotonicClock = (): TrackerClock & { readonly nowNs: () => number } => {
  const offsetMs = Date.now() - monotonicNowNs() / 1e6
  return {
    nowNs: monotonicNowNs,
    iso: (monotonicNs) => {
      const micros = Math.floor((monotonicNs / 1e6 + offsetMs) * 1000)
      const ms = new Date(Math.floor(micros / 1000)).toISOString()
      return `${ms.slice(0, -1)}${String(micros % 1000).padStart(3, "0")}Z`
    }
  }
}
