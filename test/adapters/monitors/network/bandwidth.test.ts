// The token bucket behind `network_mbps`: a source that waits as told never gets more than the burst
// plus the rate times the time passed (and the one chunk it just read).
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { burstBytes, bytesPerSecond, makeBucket } from "../../../../src/adapters/monitors/network/bandwidth.js"

describe("bandwidth bucket", () => {
  it("converts megabits per second to bytes and keeps at least 64 KiB of burst", () => {
    expect(bytesPerSecond(8)).toBe(1_000_000)
    expect(burstBytes(bytesPerSecond(1))).toBe(64 * 1024)
    expect(burstBytes(bytesPerSecond(1000))).toBe(12_500_000)
  })

  it("lets a full bucket through at once and then asks for the time the debt takes", () => {
    const bucket = makeBucket(1_000_000, 100_000)
    expect(bucket.take(100_000, 0)).toBe(0)
    expect(bucket.take(50_000, 0)).toBe(50)
    // 50 ms later the debt is paid and nothing has built up
    expect(bucket.take(1_000, 50)).toBe(1)
  })

  it("gains nothing from a clock that steps back", () => {
    const bucket = makeBucket(1_000_000, 10_000)
    expect(bucket.take(10_000, 1_000)).toBe(0)
    expect(bucket.take(10_000, 500)).toBe(10)
  })

  it("never passes more than burst + rate x elapsed + the last chunk to a source that waits as told", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1_000, max: 1e8, noNaN: true }),
        fc.integer({ min: 1, max: 1 << 20 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 1 << 17 }), fc.double({ min: 0, max: 50, noNaN: true })), { minLength: 1, maxLength: 200 }),
        (rate, burst, chunks) => {
          const bucket = makeBucket(rate, burst)
          let now = 0
          let readyAt = 0
          let total = 0
          for (const [bytes, gap] of chunks) {
            now = Math.max(now + gap, readyAt)
            total += bytes
            expect(total).toBeLessThanOrEqual(burst + (rate * now) / 1000 + bytes + 1e-6 * total)
            readyAt = now + bucket.take(bytes, now)
          }
        }
      )
    )
  })
})
