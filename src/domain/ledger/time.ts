// Timestamps and ids of records, from values the caller supplies (the Clock, random bytes).

/** RFC 3339 UTC with microseconds from epoch nanoseconds. */
export const formatTimestamp = (epochNanos: bigint): string => {
  const millis = Number(epochNanos / 1_000_000n)
  const micros = Number((epochNanos / 1_000n) % 1_000_000n)
  const iso = new Date(millis).toISOString() // 2026-11-23T20:07:52.123Z
  return `${iso.slice(0, 19)}.${String(micros).padStart(6, "0")}Z`
}

/** UUIDv7 (RFC 9562) from a millisecond time and 10 random bytes. */
export const uuidv7 = (epochMillis: number, random: Uint8Array): string => {
  const b = new Uint8Array(16)
  let ms = epochMillis
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256
    ms = Math.floor(ms / 256)
  }
  for (let i = 0; i < 10; i++) b[6 + i] = random[i] ?? 0
  b[6] = 0x70 | ((b[6] ?? 0) & 0x0f)
  b[8] = 0x80 | ((b[8] ?? 0) & 0x3f)
  const hex = Buffer.from(b).toString("hex")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}
