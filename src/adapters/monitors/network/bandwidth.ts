// `network_mbps` applied where a sandbox's traffic leaves: the egress proxy relays every byte in and
// out, so a token bucket per sandbox and direction (shared by all its connections) caps each at the
// limit. A chunk already read is always passed on; the bucket goes into debt and the source is not
// read again until the debt is paid, so over any interval a direction carries at most the burst plus
// the rate times the interval, one chunk more at most.
import type * as net from "node:net"

/** Bytes per second for a limit in megabits per second (1 Mbit = 10^6 bits). */
export const bytesPerSecond = (mbps: number): number => (mbps * 1_000_000) / 8

/** What a bucket holds when full: 64 KiB, or a tenth of a second at the rate when that is more. */
export const burstBytes = (rate: number): number => Math.max(64 * 1024, Math.ceil(rate / 10))

export interface Bucket {
  /** Takes `bytes` at time `nowMs`; how many milliseconds the source must wait before reading again. */
  readonly take: (bytes: number, nowMs: number) => number
}

export const makeBucket = (rate: number, burst = burstBytes(rate)): Bucket => {
  let tokens = burst
  let at: number | null = null
  return {
    take: (bytes, nowMs) => {
      // a clock that steps back adds nothing
      if (at !== null) tokens = Math.min(burst, tokens + (Math.max(0, nowMs - at) * rate) / 1000)
      at = at === null ? nowMs : Math.max(at, nowMs)
      tokens -= bytes
      return tokens >= 0 ? 0 : Math.ceil((-tokens * 1000) / rate)
    }
  }
}

/** A sandbox's buckets, one per direction: `up` for bytes the sandbox sends, `down` for bytes it gets. */
export interface Bandwidth {
  readonly up: Bucket
  readonly down: Bucket
}

export const makeBandwidth = (mbps: number): Bandwidth => ({ up: makeBucket(bytesPerSecond(mbps)), down: makeBucket(bytesPerSecond(mbps)) })

export interface Relay {
  /** Stops reading `from` for good (its timers end with it). */
  readonly stop: () => void
}

/**
 * Pipes `from` into `to` with backpressure, counting every byte, and with a bucket, never faster than
 * it allows. The source is read while neither the destination is full nor the bucket in debt.
 */
export const relay = (from: net.Socket, to: net.Socket, bucket: Bucket | null, counted: (bytes: number) => void): Relay => {
  let full = false
  let owed: NodeJS.Timeout | null = null
  let stopped = false
  const update = () => {
    if (stopped || full || owed !== null) from.pause()
    else from.resume()
  }
  from.on("data", (chunk: Buffer) => {
    counted(chunk.length)
    if (!to.write(chunk)) full = true
    const wait = bucket === null ? 0 : bucket.take(chunk.length, performance.now())
    if (wait > 0 && owed === null) {
      owed = setTimeout(() => {
        owed = null
        update()
      }, wait)
    }
    update()
  })
  to.on("drain", () => {
    full = false
    update()
  })
  update()
  return {
    stop: () => {
      stopped = true
      if (owed !== null) clearTimeout(owed)
      owed = null
    }
  }
}
