// The ledger writer: the one place that stamps records (revision, seq, prev, hash, sig) and appends
// them. Requests queue up; one fiber takes all that wait, chains and signs them, and hands them to the
// store together so that they share one durable commit. It recovers its chain head on start.
import { Chunk, Clock, Deferred, Effect, Fiber, Layer, Queue, Schedule } from "effect"
import type { NewEvent } from "../../domain/ledger/event-definition.js"
import { Checkpoint, WriterKeyRegistered, WriterKeyRotated, keyStream } from "../../domain/ledger/ledger-events.js"
import type { Actor, LedgerRecord } from "../../domain/ledger/record.js"
import { EventStore, StoreUnavailable, appendMany, type Durability, type ExpectedRevision, type StoreError, WrongExpectedRevision } from "../store/event-store.js"
import { discardStagedKey, loadOrCreateWriterKey, promoteStagedKey, stageNextKey, type WriterKey } from "../keys/key-store.js"
import { ChainHead, type StampedRecord } from "./chain-head.js"
import { Ledger, type AppendOptions, type AppendPart, type LedgerError, type LedgerOptions, type LedgerShape } from "./ledger-port.js"
import { makeSignerPool } from "./signer-pool.js"
import { appendWitness } from "./witness.js"
import { acquireWriterLock } from "./writer-lock.js"
import { lastChainEvents, reconcileKey } from "./writer-key.js"

export { Ledger, type AppendOptions, type AppendPart, type LedgerError, type LedgerOptions, type LedgerShape } from "./ledger-port.js"

type Request =
  | {
      readonly kind: "events"
      readonly stream: string
      readonly events: ReadonlyArray<NewEvent>
      readonly options: AppendOptions
      readonly done: Deferred.Deferred<ReadonlyArray<LedgerRecord>, WrongExpectedRevision | LedgerError>
    }
  | {
      readonly kind: "group"
      readonly parts: ReadonlyArray<AppendPart>
      readonly done: Deferred.Deferred<ReadonlyArray<ReadonlyArray<LedgerRecord>>, WrongExpectedRevision | LedgerError>
    }
  | { readonly kind: "checkpoint"; readonly done: Deferred.Deferred<LedgerRecord | null, LedgerError> }
  | { readonly kind: "rotate"; readonly done: Deferred.Deferred<{ previousKeyId: string; keyId: string }, LedgerError> }


/** The ledger's own streams never conflict unless another process writes as this writer. */
const asLedgerError = (e: WrongExpectedRevision | StoreError): StoreError =>
  e._tag === "WrongExpectedRevision" ? new StoreUnavailable({ store: e.stream, problem: `another writer is appending as this writer (${e.message})` }) : e

const SYSTEM: Actor = { kind: "system", id: "ledger" }

export const makeLedger = (options: LedgerOptions) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    yield* acquireWriterLock(options.dataDir)
    const { key: initialKey } = yield* loadOrCreateWriterKey(options.dataDir)
    const writer = initialKey.writerId
    const everyRecords = options.checkpointEveryRecords ?? 1000
    const maxBatch = options.maxBatch ?? 4096
    const sensitiveOf = options.sensitiveFields ?? (() => [])

    let key: WriterKey = yield* reconcileKey(store, options.dataDir, initialKey)
    const signer = yield* makeSignerPool(key.privateKey, key.pkcs8)

    // Chain state, recovered from the store.
    const chain = new ChainHead(writer, sensitiveOf)
    const revisions = new Map<string, number | null>()
    const recover = Effect.gen(function* () {
      revisions.clear()
      const head = yield* store.chainHead(writer)
      const size = (head?.seq ?? -1) + 1
      chain.clear()
      for (let from = 0; from < size; from += 65536) chain.restore(yield* store.chainHashes(writer, from, Math.min(size, from + 65536)))
      chain.restored((yield* lastChainEvents(store, writer)).checkpointSeq)
    })

    const revisionOf = (stream: string) =>
      revisions.has(stream) ? Effect.succeed(revisions.get(stream)!) : store.streamRevision(stream).pipe(Effect.tap((r) => Effect.sync(() => revisions.set(stream, r))))

    const stamp = (stream: string, revision: number, event: NewEvent, opts: AppendOptions, nanos: bigint) => chain.stamp(stream, revision, event, opts, nanos)

    interface Planned {
      readonly stream: string
      readonly expected: ExpectedRevision
      readonly records: Array<StampedRecord>
      readonly request: Request | null
      /** For a group: which of its parts this is. */
      readonly part?: number
      readonly durability?: Durability
    }

    const planCheckpoint = (nanos: bigint): Effect.Effect<Planned, StoreError> =>
      Effect.gen(function* () {
        const stream = keyStream(writer)
        const current = yield* revisionOf(stream)
        const record = stamp(stream, (current ?? -1) + 1, { type: Checkpoint.type, data: { size: chain.seq + 1, root: chain.root() } }, { actor: SYSTEM }, nanos)
        revisions.set(stream, record.revision)
        chain.sinceCheckpoint = 0
        return { stream, expected: current ?? "no_stream", records: [record], request: null }
      })

    const appendSigned = (planned: ReadonlyArray<Planned>, sigs: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        let i = 0
        const signed = planned.map((p) => ({ ...p, records: p.records.map((r) => ({ ...r, sig: sigs[i++]! }) as LedgerRecord) }))
        const results = yield* appendMany(store, signed)
        return { signed, results }
      })

    const hashesOf = (planned: ReadonlyArray<Planned>) => planned.flatMap((p) => p.records.map((r) => r.hash))

    const commit = (planned: ReadonlyArray<Planned>) => Effect.flatMap(signer.sign(hashesOf(planned)), (sigs) => appendSigned(planned, sigs))

    const queue = yield* Queue.unbounded<Request>()

    const refusal = (stream: string, expected: ExpectedRevision = "any", current: number | null) =>
      expected === "any" || (expected === "no_stream" ? current === null : current === expected) ? null : new WrongExpectedRevision({ stream, expected, actual: current })

    /** Stamps the records of a batch on the chain; requests that cannot go in are answered now. */
    const plan = (requests: ReadonlyArray<Request>) =>
      Effect.gen(function* () {
        const nanos = yield* Clock.currentTimeNanos
        const planned: Array<Planned> = []
        const stampPart = (part: AppendPart, current: number | null, request: Request, index?: number) => {
          const base = (current ?? -1) + 1
          const records = part.events.map((e, i) => stamp(part.stream, base + i, e, part.options, nanos))
          revisions.set(part.stream, base + records.length - 1)
          planned.push({
            stream: part.stream,
            expected: current ?? "no_stream",
            records,
            request,
            ...(index !== undefined ? { part: index } : {}),
            ...(part.options.durability !== undefined ? { durability: part.options.durability } : {})
          })
        }
        for (const req of requests) {
          if (req.kind === "events") {
            const current = yield* revisionOf(req.stream)
            const refused = refusal(req.stream, req.options.expected, current)
            if (refused !== null) {
              yield* Deferred.fail(req.done, refused)
              continue
            }
            if (req.events.length === 0) {
              yield* Deferred.succeed(req.done, [])
              continue
            }
            stampPart(req, current, req)
            if (chain.sinceCheckpoint >= everyRecords) planned.push(yield* planCheckpoint(nanos))
          } else if (req.kind === "group") {
            // every part checked (as if the earlier ones were in) before any is stamped: all or none
            const after = new Map<string, number | null>()
            const currents: Array<number | null> = []
            let refused: WrongExpectedRevision | null = null
            for (const part of req.parts) {
              const current = after.has(part.stream) ? after.get(part.stream)! : yield* revisionOf(part.stream)
              refused = refusal(part.stream, part.options.expected, current)
              if (refused !== null) break
              currents.push(current)
              after.set(part.stream, part.events.length === 0 ? current : (current ?? -1) + part.events.length)
            }
            if (refused !== null) {
              yield* Deferred.fail(req.done, refused)
              continue
            }
            const stamped = req.parts.filter((part) => part.events.length > 0).length
            if (stamped === 0) {
              yield* Deferred.succeed(req.done, req.parts.map(() => []))
              continue
            }
            req.parts.forEach((part, i) => {
              if (part.events.length > 0) stampPart(part, currents[i]!, req, i)
            })
            if (chain.sinceCheckpoint >= everyRecords) planned.push(yield* planCheckpoint(nanos))
          } else if (req.kind === "checkpoint") {
            if (chain.sinceCheckpoint === 0) {
              yield* Deferred.succeed(req.done, null)
              continue
            }
            planned.push({ ...(yield* planCheckpoint(nanos)), request: req })
          }
        }
        return planned
      })

    /** Appends a signed batch and answers its requests; false when the store refused any of it. */
    const finish = (planned: ReadonlyArray<Planned>, sigs: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const { signed, results } = yield* appendSigned(planned, sigs)
        const failed = results.some((r) => r._tag === "Left")
        if (failed) yield* recover.pipe(Effect.orDie)
        const groups = new Map<Request, { readonly records: Array<ReadonlyArray<LedgerRecord>>; error: WrongExpectedRevision | StoreError | null }>()
        for (let i = 0; i < signed.length; i++) {
          const p = signed[i]!
          const result = results[i]!
          if (result._tag === "Right" && p.records[0]?.type === Checkpoint.type && options.witnessFile)
            yield* appendWitness(options.witnessFile, p.records[0], key).pipe(Effect.orDie)
          if (p.request === null) continue
          if (p.request.kind === "group") {
            let group = groups.get(p.request)
            if (group === undefined) groups.set(p.request, (group = { records: p.request.parts.map(() => []), error: null }))
            if (result._tag === "Left") group.error ??= result.left
            else group.records[p.part!] = p.records
          } else if (p.request.kind === "events")
            yield* result._tag === "Right" ? Deferred.succeed(p.request.done, p.records) : Deferred.fail(p.request.done, result.left)
          else if (p.request.kind === "checkpoint")
            yield* result._tag === "Right" ? Deferred.succeed(p.request.done, p.records[0] ?? null) : Deferred.fail(p.request.done, asLedgerError(result.left))
        }
        for (const [request, group] of groups) {
          if (request.kind !== "group") continue
          yield* group.error === null ? Deferred.succeed(request.done, group.records) : Deferred.fail(request.done, group.error)
        }
        return !failed
      })

    /** A batch stamped on top of one the store refused is void: its requests fail and may be retried. */
    const abandon = (planned: ReadonlyArray<Planned>) =>
      Effect.forEach(planned, (p) => {
        const error = new StoreUnavailable({ store: store.describe, problem: "an earlier batch failed to commit; nothing of this append was written, retry it" })
        if (p.request?.kind === "events") return Deferred.fail(p.request.done, error)
        if (p.request?.kind === "group") return Deferred.fail(p.request.done, error)
        if (p.request?.kind === "checkpoint") return Deferred.fail(p.request.done, error)
        return Effect.void
      })

    const processBatch = (requests: ReadonlyArray<Request>) =>
      Effect.gen(function* () {
        const planned = yield* plan(requests)
        if (planned.length > 0) yield* finish(planned, yield* signer.sign(hashesOf(planned)))
      })

    const rotate = (req: Extract<Request, { kind: "rotate" }>) =>
      Effect.gen(function* () {
        const next = yield* stageNextKey(options.dataDir, writer)
        const nanos = yield* Clock.currentTimeNanos
        const stream = keyStream(writer)
        const current = yield* revisionOf(stream)
        const data = { algorithm: "ed25519", previousKeyId: key.keyId, keyId: next.keyId, publicKey: Buffer.from(next.publicKeyRaw).toString("hex") }
        const record = stamp(stream, (current ?? -1) + 1, { type: WriterKeyRotated.type, data }, { actor: SYSTEM }, nanos)
        revisions.set(stream, record.revision)
        const { results } = yield* commit([{ stream, expected: current ?? "no_stream", records: [record], request: req }])
        const result = results[0]!
        if (result._tag === "Left") {
          yield* recover.pipe(Effect.orDie)
          yield* discardStagedKey(options.dataDir).pipe(Effect.ignore)
          return yield* Deferred.fail(req.done, asLedgerError(result.left))
        }
        yield* promoteStagedKey(options.dataDir, next).pipe(Effect.orDie)
        const previousKeyId = key.keyId
        key = next
        yield* signer.setKey(next.privateKey, next.pkcs8)
        yield* Deferred.succeed(req.done, { previousKeyId, keyId: next.keyId })
      })

    // Pipelined: batch k+1 is stamped and its signing started before batch k commits, so the
    // workers sign while the main thread waits on the commit's fsync.
    // A small batch is signed on the spot (no fiber); a large one by the workers, in the background.
    interface Signing {
      readonly result: Effect.Effect<ReadonlyArray<string>>
      readonly cancel: Effect.Effect<void>
    }
    const startSigning = (hashes: ReadonlyArray<string>): Effect.Effect<Signing> => {
      const now = signer.signInline(hashes)
      return now !== null
        ? Effect.succeed({ result: Effect.succeed(now), cancel: Effect.void })
        : Effect.map(Effect.fork(signer.sign(hashes)), (fiber) => ({ result: Fiber.join(fiber), cancel: Fiber.interrupt(fiber) }))
    }
    let inflight: { readonly planned: ReadonlyArray<Planned>; readonly sigs: Signing } | null = null
    let answeredLastTurn = false
    const settleInflight = Effect.gen(function* () {
      const current = inflight
      inflight = null
      if (current === null) return true
      return yield* finish(current.planned, yield* current.sigs.result)
    })

    // Only the wait for work is interruptible: a batch, once taken, is committed and answered.
    const drain = Effect.uninterruptibleMask((restore) => Effect.gen(function* () {
      const first = yield* restore(inflight === null ? Queue.takeBetween(queue, 1, maxBatch) : Queue.takeUpTo(queue, maxBatch))
      // Let callers that were just answered enqueue their next append, so batches stay large. When
      // nobody was answered and nothing new came (a lone append), the batch in flight commits at once.
      const requests = [...Chunk.toReadonlyArray(first)]
      if (requests.length > 0 || answeredLastTurn) {
        yield* Effect.yieldNow()
        requests.push(...Chunk.toReadonlyArray(yield* Queue.takeUpTo(queue, maxBatch - first.length)))
      }
      if (requests.some((r) => r.kind === "rotate")) {
        yield* settleInflight
        let batch: Array<Request> = []
        for (const req of requests) {
          if (req.kind === "rotate") {
            if (batch.length > 0) yield* processBatch(batch)
            batch = []
            yield* rotate(req)
          } else batch.push(req)
        }
        if (batch.length > 0) yield* processBatch(batch)
        return
      }
      const next = requests.length > 0 ? yield* plan(requests) : []
      const nextSigs = next.length > 0 ? yield* startSigning(hashesOf(next)) : null
      answeredLastTurn = inflight !== null
      const ok = yield* settleInflight
      if (!ok && nextSigs !== null) {
        yield* nextSigs.cancel
        yield* abandon(next)
        return
      }
      if (nextSigs !== null) inflight = { planned: next, sigs: nextSigs }
    }))

    yield* recover
    if (chain.seq < 0) {
      const registered = yield* Effect.gen(function* () {
        const nanos = yield* Clock.currentTimeNanos
        const stream = keyStream(writer)
        const data = { algorithm: "ed25519", keyId: key.keyId, publicKey: Buffer.from(key.publicKeyRaw).toString("hex"), host: options.host ?? "localhost" }
        const record = stamp(stream, 0, { type: WriterKeyRegistered.type, data }, { actor: SYSTEM }, nanos)
        revisions.set(stream, 0)
        return yield* commit([{ stream, expected: "no_stream", records: [record], request: null }])
      })
      const first = registered.results[0]!
      if (first._tag === "Left") return yield* Effect.fail(first.left as StoreError)
    }

    const drainFiber = yield* Effect.forkScoped(Effect.forever(drain))
    if (options.checkpointEverySeconds && options.checkpointEverySeconds > 0)
      yield* Effect.forkScoped(
        Effect.repeat(
          Effect.gen(function* () {
            const done = yield* Deferred.make<LedgerRecord | null, LedgerError>()
            yield* Queue.offer(queue, { kind: "checkpoint", done })
            yield* Deferred.await(done).pipe(Effect.ignore)
          }),
          Schedule.spaced(`${options.checkpointEverySeconds} seconds`)
        )
      )
    // Whatever is queued when the scope closes is still written, and a last checkpoint covers it
    // (and reaches the witness), so a clean shutdown leaves no unwitnessed tail.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        yield* Fiber.interrupt(drainFiber)
        yield* settleInflight.pipe(Effect.ignore)
        const rest = yield* Queue.takeAll(queue)
        if (rest.length > 0) yield* processBatch([...rest].filter((r) => r.kind !== "rotate")).pipe(Effect.ignore)
        const done = yield* Deferred.make<LedgerRecord | null, LedgerError>()
        yield* processBatch([{ kind: "checkpoint", done }]).pipe(Effect.ignore)
      })
    )

    const ledger: LedgerShape = {
      writerId: writer,
      currentKeyId: Effect.sync(() => key.keyId),
      append: (stream, events, opts) =>
        Effect.gen(function* () {
          const done = yield* Deferred.make<ReadonlyArray<LedgerRecord>, WrongExpectedRevision | LedgerError>()
          yield* Queue.offer(queue, { kind: "events", stream, events, options: opts, done })
          return yield* Deferred.await(done)
        }),
      appendAll: (parts) =>
        Effect.gen(function* () {
          const done = yield* Deferred.make<ReadonlyArray<ReadonlyArray<LedgerRecord>>, WrongExpectedRevision | LedgerError>()
          yield* Queue.offer(queue, { kind: "group", parts, done })
          return yield* Deferred.await(done)
        }),
      checkpoint: Effect.gen(function* () {
        const done = yield* Deferred.make<LedgerRecord | null, LedgerError>()
        yield* Queue.offer(queue, { kind: "checkpoint", done })
        return yield* Deferred.await(done)
      }),
      rotateKey: Effect.gen(function* () {
        const done = yield* Deferred.make<{ previousKeyId: string; keyId: string }, LedgerError>()
        yield* Queue.offer(queue, { kind: "rotate", done })
        return yield* Deferred.await(done)
      }),
      head: Effect.sync(() => ({ seq: chain.seq, hash: chain.prev }))
    }
    return ledger
  })

export const LedgerLive = (options: LedgerOptions) => Layer.scoped(Ledger, makeLedger(options))
