// Quota bookkeeping, pure: usage samples (CPU seconds, network bytes, disk bytes written, each at a
// time) summed per UTC day and ISO week, and which of a policy's quotas a period has gone over.
// Sizes are binary: 1 GB = 2^30 bytes, as memory sizes elsewhere.
import type { ResourceQuotas } from "./policy-document.js"

export interface UsageSample {
  /** RFC 3339; the day and week are taken in UTC. */
  readonly at: string
  readonly cpuSeconds: number
  readonly networkBytes: number
  readonly diskWriteBytes: number
}

export type QuotaName = "daily_cpu_hours" | "daily_network_gb" | "weekly_disk_writes_gb"

export interface QuotaExceeded {
  readonly quota: QuotaName
  /** `resources.quotas.<quota>`: the rule a PolicyViolated cites. */
  readonly rule: string
  /** `2024-05-01` for a day, `2024-W18` for an ISO week. */
  readonly period: string
  readonly used: number
  readonly limit: number
  readonly unit: "hours" | "GB"
}

export interface QuotaUsage {
  readonly daily: Readonly<Record<string, { readonly cpuSeconds: number; readonly networkBytes: number }>>
  readonly weekly: Readonly<Record<string, { readonly diskWriteBytes: number }>>
}

const GB = 2 ** 30

export const utcDay = (at: string): string => new Date(at).toISOString().slice(0, 10)

/** ISO 8601 week of a time in UTC: weeks start on Monday; week 1 holds the year's first Thursday. */
export const isoWeek = (at: string): string => {
  const date = new Date(at)
  const day = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()))
  const weekday = day.getUTCDay() === 0 ? 7 : day.getUTCDay()
  day.setUTCDate(day.getUTCDate() + 4 - weekday)
  const yearStart = Date.UTC(day.getUTCFullYear(), 0, 1)
  const week = Math.ceil(((day.getTime() - yearStart) / 86_400_000 + 1) / 7)
  return `${day.getUTCFullYear()}-W${String(week).padStart(2, "0")}`
}

export const quotaUsage = (samples: ReadonlyArray<UsageSample>): QuotaUsage => {
  const daily: Record<string, { cpuSeconds: number; networkBytes: number }> = {}
  const weekly: Record<string, { diskWriteBytes: number }> = {}
  for (const sample of samples) {
    const day = (daily[utcDay(sample.at)] ??= { cpuSeconds: 0, networkBytes: 0 })
    day.cpuSeconds += sample.cpuSeconds
    day.networkBytes += sample.networkBytes
    const week = (weekly[isoWeek(sample.at)] ??= { diskWriteBytes: 0 })
    week.diskWriteBytes += sample.diskWriteBytes
  }
  return { daily, weekly }
}

/** Every (quota, period) whose use is over the limit, oldest period first. */
export const exceededQuotas = (quotas: ResourceQuotas, samples: ReadonlyArray<UsageSample>): ReadonlyArray<QuotaExceeded> => {
  const usage = quotaUsage(samples)
  const found: Array<QuotaExceeded> = []
  const over = (quota: QuotaName, period: string, used: number, limit: number | undefined, unit: "hours" | "GB") => {
    if (limit !== undefined && used > limit) found.push({ quota, rule: `resources.quotas.${quota}`, period, used, limit, unit })
  }
  for (const [day, use] of Object.entries(usage.daily).sort(([a], [b]) => a.localeCompare(b))) {
    over("daily_cpu_hours", day, use.cpuSeconds / 3600, quotas.daily_cpu_hours, "hours")
    over("daily_network_gb", day, use.networkBytes / GB, quotas.daily_network_gb, "GB")
  }
  for (const [week, use] of Object.entries(usage.weekly).sort(([a], [b]) => a.localeCompare(b))) {
    over("weekly_disk_writes_gb", week, use.diskWriteBytes / GB, quotas.weekly_disk_writes_gb, "GB")
  }
  return found
}
