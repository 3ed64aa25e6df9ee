// The one place that renders results: aligned tables and lines for people, JSON for programs.
import { Console, Effect } from "effect"

export const printJson = (value: unknown) => Console.log(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2))

export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd()
  return [line(headers), ...rows.map(line)].join("\n")
}

export const printTable = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) => Console.log(table(headers, rows))

/** A progress line on stderr for long work, only when a person is watching. */
export const progress = (label: string) => {
  const tty = process.stderr.isTTY === true
  let last = 0
  return {
    update: (text: string) => {
      if (!tty) return
      const now = Date.now()
      if (now - last < 100) return
      last = now
      process.stderr.write(`\r${label} ${text}\x1b[K`)
    },
    done: () => Effect.sync(() => tty && process.stderr.write("\r\x1b[K"))
  }
}

export const say = (text: string) => Console.log(text)
