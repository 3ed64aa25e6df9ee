// Joins an exec line with its argv chunk lines (printed by separate probes, so possibly in any order
// and, under loss, incomplete) into one observed exec. An exec whose chunks do not all arrive within
// `staleAfterNs` is released with what arrived, its argv marked cut.
import { ARGV_CAPTURE_BYTES, ARGV_CHUNK_BYTES } from "./trace-script.js"
import { argvFromBytes, type TraceLine } from "./trace-line.js"

type ExecLine = Extract<TraceLine, { kind: "exec" }>

/** An exec line's task fields with its argv put together. */
export interface ObservedExec extends Omit<ExecLine, "kind" | "mm" | "argLength"> {
  readonly argv: ReadonlyArray<string>
}
type ArgvLine = Extract<TraceLine, { kind: "argv" }>

interface Pending {
  readonly exec: ExecLine | null
  readonly chunks: Map<number, Uint8Array>
  /** Latest trace time seen when this entry was opened (for expiry of chunks without their exec). */
  readonly openedTs: number
}

const chunksExpected = (argLength: number) => Math.ceil(Math.min(argLength, ARGV_CAPTURE_BYTES) / ARGV_CHUNK_BYTES)

const assemble = (exec: ExecLine, chunks: Map<number, Uint8Array>): ObservedExec => {
  const parts: Array<Uint8Array> = []
  for (let offset = 0; chunks.has(offset); offset += ARGV_CHUNK_BYTES) parts.push(chunks.get(offset)!)
  const bytes = Buffer.concat(parts)
  const { argLength, mm: _mm, kind: _kind, ...rest } = exec
  return { ...rest, argv: argvFromBytes(bytes, argLength) }
}

export interface ExecAssembly {
  /** Feeds an exec or argv line; returns the execs it completed. */
  readonly add: (line: ExecLine | ArgvLine) => ReadonlyArray<ObservedExec>
  /** Releases execs still waiting for chunks after `staleAfterNs`; drops chunks whose exec never came. */
  readonly expire: (nowTs: number) => { readonly released: ReadonlyArray<ObservedExec>; readonly orphanChunks: number }
  readonly pending: () => number
}

export const makeExecAssembly = (staleAfterNs = 1_000_000_000): ExecAssembly => {
  const pending = new Map<string, Pending>()
  let latestTs = 0

  const complete = (key: string, entry: Pending): ReadonlyArray<ObservedExec> => {
    if (entry.exec === null || entry.chunks.size < chunksExpected(entry.exec.argLength)) return []
    pending.delete(key)
    return [assemble(entry.exec, entry.chunks)]
  }

  return {
    add: (line) => {
      const key = `${line.pid}:${line.mm}`
      const entry = pending.get(key) ?? { exec: null, chunks: new Map<number, Uint8Array>(), openedTs: latestTs }
      if (line.kind === "exec") {
        latestTs = Math.max(latestTs, line.ts)
        const withExec = { ...entry, exec: line }
        pending.set(key, withExec)
        return complete(key, withExec)
      }
      entry.chunks.set(line.offset, line.bytes)
      pending.set(key, entry)
      return complete(key, entry)
    },
    expire: (nowTs) => {
      latestTs = Math.max(latestTs, nowTs)
      const released: Array<ObservedExec> = []
      let orphanChunks = 0
      for (const [key, entry] of pending) {
        const since = entry.exec?.ts ?? entry.openedTs
        if (nowTs - since < staleAfterNs) continue
        pending.delete(key)
        if (entry.exec !== null) released.push(assemble(entry.exec, entry.chunks))
        else orphanChunks += entry.chunks.size
      }
      return { released, orphanChunks }
    },
    pending: () => pending.size
  }
}
