// Bursts of change notifications per path: a path's notifications join one burst until the path has
// been quiet for `quietMs`, or its burst is `maxDelayMs` old (so a file written without pause still
// produces events). Pure: time is passed in, nothing is read from disk.

export interface Burst {
  readonly path: string
  /** Notifications coalesced into this burst (≥ 1). */
  writes: number
  firstAt: number
  lastAt: number
  /** The burst began with a creation (a candidate for the new half of a rename). */
  readonly beganWithAdd: boolean
}

export interface CoalescerOptions {
  readonly quietMs: number
  readonly maxDelayMs: number
  /** Paths with a pending burst at most; a notification for another path past it is dropped. */
  readonly maxPaths: number
}

export type Noted = "started" | "joined" | "dropped"

export interface Coalescer {
  /** Records one notification for `path` at time `at` (ms). */
  readonly note: (path: string, at: number, isAdd: boolean) => Noted
  /** Removes and returns the bursts that are due at `now`: quiet long enough, or too old. */
  readonly due: (now: number) => Array<Burst>
  /** Removes and returns every pending burst. */
  readonly drain: () => Array<Burst>
  /** Removes and returns the pending burst of `path`, if any. */
  readonly take: (path: string) => Burst | undefined
  readonly has: (path: string) => boolean
  readonly pending: () => IterableIterator<Burst>
  readonly size: () => number
}

/** Whether a burst taken at `now` is due because of its age rather than quiet (writes may still come). */
export const forcedOut = (burst: Burst, now: number, options: CoalescerOptions): boolean =>
  now - burst.lastAt < options.quietMs && now - burst.firstAt >= options.maxDelayMs

export const makeCoalescer = (options: CoalescerOptions): Coalescer => {
  const bursts = new Map<string, Burst>()
  const take = (path: string) => {
    const burst = bursts.get(path)
    bursts.delete(path)
    return burst
  }
  return {
    note: (path, at, isAdd) => {
      const burst = bursts.get(path)
      if (burst !== undefined) {
        burst.writes++
        burst.lastAt = Math.max(burst.lastAt, at)
        return "joined"
      }
      if (bursts.size >= options.maxPaths) return "dropped"
      bursts.set(path, { path, writes: 1, firstAt: at, lastAt: at, beganWithAdd: isAdd })
      return "started"
    },
    due: (now) => {
      const out: Array<Burst> = []
      for (const burst of bursts.values()) {
        if (now - burst.lastAt >= options.quietMs || now - burst.firstAt >= options.maxDelayMs) out.push(burst)
      }
      for (const burst of out) bursts.delete(burst.path)
      return out
    },
    drain: () => {
      const out = [...bursts.values()]
      bursts.clear()
      return out
    },
    take,
    has: (path) => bursts.has(path),
    pending: () => bursts.values(),
    size: () => bursts.size
  }
}
