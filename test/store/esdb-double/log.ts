// The in-memory transaction log of the EventStoreDB protocol double: streams, $all positions and the
// server's write rules (expected versions, idempotent retries by event id), as documented by
// EventStoreDB and as its server source decides them (IndexWriter.CheckCommit). No gRPC here.

/** What a client proposes to write: one ESDB event. */
export interface ProposedEvent {
  readonly id: string
  readonly type: string
  readonly contentType: string
  readonly data: Uint8Array
  readonly metadata: Uint8Array
}

export interface StoredEvent {
  readonly stream: string
  readonly revision: bigint
  readonly id: string
  readonly type: string
  readonly contentType: string
  data: Uint8Array
  readonly metadata: Uint8Array
  /** .NET ticks (100 ns) since the Unix epoch, as the server sends "created" */
  readonly created: bigint
  /** commit = prepare: every gRPC write is a self-committed prepare record in the log */
  readonly position: bigint
}

export type ExpectedVersion = "any" | "no_stream" | "stream_exists" | bigint

export type AppendOutcome =
  | { readonly kind: "success"; readonly currentRevision: bigint | null; readonly position: bigint | null }
  | { readonly kind: "wrong-expected-version"; readonly currentRevision: bigint | null }

/** Where the log starts: a real database opens with a few system records before any user event. */
const FIRST_POSITION = 1_024n
const RECORD_OVERHEAD = 88n

export class EsdbLog {
  readonly events: Array<StoredEvent> = []
  private readonly streams = new Map<string, Array<StoredEvent>>()
  private readonly byId = new Map<string, StoredEvent>()
  private readonly listeners = new Set<() => void>()
  private nextPosition = FIRST_POSITION

  constructor() {
    // What a fresh EventStoreDB node writes to $all before any client does.
    this.appendSystem("$epoch-information", "$epoch-information", { epochNumber: 0 })
    this.appendSystem("$scavenges", "$scavengeIndexInitialized", {})
  }

  appendSystem(stream: string, type: string, data: Record<string, unknown>): StoredEvent {
    const current = this.currentRevision(stream)
    return this.write(stream, current, [
      { id: crypto.randomUUID(), type, contentType: "application/json", data: Buffer.from(JSON.stringify(data)), metadata: new Uint8Array() }
    ])[0]!
  }

  currentRevision(stream: string): bigint | null {
    const list = this.streams.get(stream)
    return list && list.length > 0 ? list[list.length - 1]!.revision : null
  }

  /** The write rules of IndexWriter.CheckCommit, for one append of `events` to `stream`. */
  append(stream: string, expected: ExpectedVersion, events: ReadonlyArray<ProposedEvent>): AppendOutcome {
    const current = this.currentRevision(stream)
    const list = this.streams.get(stream) ?? []
    if (current === null) {
      if (expected === "any" || expected === "no_stream") return this.commit(stream, current, events)
      return { kind: "wrong-expected-version", currentRevision: null }
    }
    if (expected === "any" || expected === "stream_exists") {
      // Idempotency by the committed-events cache: all ids already in this stream is a retry.
      const found = events.map((e) => this.byId.get(e.id))
      const first = found[0]
      if (first === undefined || first.stream !== stream) return this.commit(stream, current, events)
      if (found.some((f) => f === undefined || f.stream !== stream)) return { kind: "wrong-expected-version", currentRevision: current }
      const last = found[found.length - 1]!
      return { kind: "success", currentRevision: last.revision, position: last.position }
    }
    const exp = expected === "no_stream" ? -1n : expected
    if (exp < current) {
      if (events.length === 0) return { kind: "wrong-expected-version", currentRevision: current }
      // A retry of events already written at exactly these revisions succeeds without writing.
      for (let i = 0; i < events.length; i++) {
        const stored = list[Number(exp) + 1 + i]
        if (stored === undefined || stored.id !== events[i]!.id) return { kind: "wrong-expected-version", currentRevision: current }
      }
      const last = list[Number(exp) + events.length]!
      return { kind: "success", currentRevision: last.revision, position: last.position }
    }
    if (exp > current) return { kind: "wrong-expected-version", currentRevision: current }
    return this.commit(stream, current, events)
  }

  private commit(stream: string, current: bigint | null, events: ReadonlyArray<ProposedEvent>): AppendOutcome {
    if (events.length === 0) return { kind: "success", currentRevision: current, position: null }
    const written = this.write(stream, current, events)
    const last = written[written.length - 1]!
    return { kind: "success", currentRevision: last.revision, position: last.position }
  }

  private write(stream: string, current: bigint | null, events: ReadonlyArray<ProposedEvent>): Array<StoredEvent> {
    let list = this.streams.get(stream)
    if (!list) this.streams.set(stream, (list = []))
    const created = BigInt(Date.now()) * 10_000n
    let revision = current === null ? 0n : current + 1n
    const written: Array<StoredEvent> = []
    for (const e of events) {
      const stored: StoredEvent = { stream, revision, id: e.id, type: e.type, contentType: e.contentType, data: e.data, metadata: e.metadata, created, position: this.nextPosition }
      this.nextPosition += RECORD_OVERHEAD + BigInt(e.data.length + e.metadata.length + stream.length + e.type.length)
      revision += 1n
      list.push(stored)
      this.events.push(stored)
      this.byId.set(e.id, stored)
      written.push(stored)
    }
    for (const notify of [...this.listeners]) notify()
    return written
  }

  /** Events of `stream` from `from` (inclusive), at most `count`, forwards or backwards; null if no such stream. */
  readStream(stream: string, from: bigint | "start" | "end", count: number, backwards: boolean): ReadonlyArray<StoredEvent> | null {
    const list = this.streams.get(stream)
    if (!list || list.length === 0) return null
    if (!backwards) {
      const start = from === "start" ? 0 : from === "end" ? list.length : Number(from)
      return list.slice(start, start + count)
    }
    const start = from === "end" ? list.length - 1 : from === "start" ? 0 : Math.min(Number(from), list.length - 1)
    const out: Array<StoredEvent> = []
    for (let i = start; i >= 0 && out.length < count; i--) out.push(list[i]!)
    return out
  }

  /** Index in `events` of the first event at or after `position` (reads of $all include the given position). */
  indexAtOrAfter(position: bigint): number {
    let lo = 0
    let hi = this.events.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.events[mid]!.position < position) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  readAll(from: bigint | "start" | "end", count: number, backwards: boolean): ReadonlyArray<StoredEvent> {
    if (!backwards) {
      const start = from === "start" ? 0 : from === "end" ? this.events.length : this.indexAtOrAfter(from)
      return this.events.slice(start, start + count)
    }
    const start = from === "end" ? this.events.length - 1 : from === "start" ? -1 : this.indexAtOrAfter(from + 1n) - 1
    const out: Array<StoredEvent> = []
    for (let i = start; i >= 0 && out.length < count; i--) out.push(this.events[i]!)
    return out
  }

  findById(id: string): StoredEvent | undefined {
    return this.byId.get(id)
  }

  onAppend(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }
}
