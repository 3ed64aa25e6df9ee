// One sandbox's processes as ledger payloads: every exec becomes ProcessStarted; the end of a process
// that exec'd while watched becomes ProcessExited. Lines of different CPUs can arrive out of order, so
// an exit that comes before its exec waits (up to `holdExitNs`) for it. Exits of processes that never
// exec'd while watched (started before the monitor, or forks that never exec) are not recorded.
import type { NewEvent } from "../../../domain/ledger/event-definition.js"
import { ProcessExited, ProcessStarted } from "../../../domain/monitors/monitor-events.js"
import type { ObservedExec } from "./exec-assembly.js"
import { exitOutcome } from "./trace-line.js"

export interface ObservedExit {
  readonly ts: number
  readonly pid: number
  readonly status: number
}

export interface TrackerClock {
  /** RFC 3339 (microseconds) for a CLOCK_MONOTONIC nanosecond time. */
  readonly iso: (monotonicNs: number) => string
}

export interface ProcessTracker {
  readonly exec: (exec: ObservedExec, nsPid: number | null, cwd: string | null) => ReadonlyArray<NewEvent>
  readonly exit: (exit: ObservedExit) => ReadonlyArray<NewEvent>
  /** Forgets held exits older than the hold window. */
  readonly expire: (nowTs: number) => void
  readonly live: () => number
}

export const makeProcessTracker = (sandboxId: string, clock: TrackerClock, holdExitNs = 2_000_000_000): ProcessTracker => {
  /** pid → trace time of its first exec while watched. */
  const live = new Map<number, number>()
  const heldExits = new Map<number, ObservedExit>()

  const exited = (exit: ObservedExit, startedTs: number): NewEvent => ({
    type: ProcessExited.type,
    data: { sandboxId, pid: exit.pid, ...exitOutcome(exit.status), durationMs: Math.max(0, exit.ts - startedTs) / 1e6 }
  })

  return {
    exec: (exec, nsPid, cwd) => {
      const started: NewEvent = {
        type: ProcessStarted.type,
        data: {
          sandboxId, pid: exec.pid, nsPid, ppid: exec.ppid, argv: exec.argv, cwd, uid: exec.uid,
          startedAt: clock.iso(exec.ts), cgroupId: exec.cgroupId
        }
      }
      const firstTs = Math.min(live.get(exec.pid) ?? exec.ts, exec.ts)
      const held = heldExits.get(exec.pid)
      if (held !== undefined && held.ts >= exec.ts) {
        heldExits.delete(exec.pid)
        live.delete(exec.pid)
        return [started, exited(held, firstTs)]
      }
      live.set(exec.pid, firstTs)
      return [started]
    },
    exit: (exit) => {
      const startedTs = live.get(exit.pid)
      if (startedTs === undefined || startedTs > exit.ts) {
        heldExits.set(exit.pid, exit)
        return []
      }
      live.delete(exit.pid)
      return [exited(exit, startedTs)]
    },
    expire: (nowTs) => {
      for (const [pid, exit] of heldExits) if (nowTs - exit.ts > holdExitNs) heldExits.delete(pid)
    },
    live: () => live.size
  }
}
