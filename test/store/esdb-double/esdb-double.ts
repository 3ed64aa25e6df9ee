// An in-process protocol double of EventStoreDB's gRPC streams service, for tests: it serves the
// client's own generated service definitions (Streams.Read/Append/BatchAppend, ServerFeatures) on
// 127.0.0.1 behind a relay that can cut connections. What it had to guess is in docs/eventstoredb.md.
import { randomUUID } from "node:crypto"
import grpc from "@grpc/grpc-js"
import featuresGrpc from "@eventstore/db-client/generated/serverfeatures_grpc_pb.js"
import featuresPb from "@eventstore/db-client/generated/serverfeatures_pb.js"
import streamsGrpc from "@eventstore/db-client/generated/streams_grpc_pb.js"
import type streamsPb from "@eventstore/db-client/generated/streams_pb.js"
import { Effect } from "effect"
import { EsdbLog, type ExpectedVersion, type ProposedEvent, type StoredEvent } from "./log.js"
import { startRelay, type ConnectionCutter } from "./proxy.js"
import {
  appendExpected,
  appendResp,
  batchAppendResp,
  batchAppendTooLarge,
  batchExpected,
  caughtUp,
  confirmation,
  proposedEvent,
  readEvent,
  rpcError,
  streamNameOf,
  streamNotFound,
  uuidText
} from "./wire.js"

type ReadReq = streamsPb.ReadReq
type ReadResp = streamsPb.ReadResp
type AppendReq = streamsPb.AppendReq
type AppendResp = streamsPb.AppendResp
type BatchAppendReq = streamsPb.BatchAppendReq
type BatchAppendResp = streamsPb.BatchAppendResp

export type DropMoment = "before-commit" | "after-commit"

export interface EsdbDoubleOptions {
  /** Advertise ServerFeatures and BatchAppend (a 21.10+ server); false answers like a 20.10 server. */
  readonly batchAppend?: boolean
  /** The server's MaxAppendSize (bytes per append); EventStoreDB's default is 1 MiB. */
  readonly maxAppendSize?: number
}

export interface EsdbDouble {
  /** `esdb://127.0.0.1:PORT?tls=false`, through the relay */
  readonly connection: string
  readonly log: EsdbLog
  /** The next `times` appends cut every client connection at `moment` instead of replying. */
  readonly dropAppends: (moment: DropMoment, times?: number) => void
  /** Disarms drops not yet used. */
  readonly clearDrops: () => void
  /** Drops armed and not yet used. */
  readonly armedDrops: () => number
  readonly cutConnections: () => number
  /** Test hook: rewrite a stored event's data in place, as someone with access to the files could. */
  readonly tamper: (eventId: string, edit: (data: string) => string) => void
  /** Append requests the double has received (replied to or dropped). */
  readonly appendRequests: () => number
  readonly close: () => Promise<void>
}

const MIB = 1024 * 1024

export const startEsdbDouble = async (options: EsdbDoubleOptions = {}): Promise<EsdbDouble> => {
  const log = new EsdbLog()
  const serialized = new WeakMap<StoredEvent, Buffer>()
  const maxAppendSize = options.maxAppendSize ?? MIB
  const faults: Array<DropMoment> = []
  let appendRequests = 0
  let relay: ConnectionCutter | null = null
  // Calls begun before a cut came over a connection that is gone: nothing more of theirs is processed,
  // so what the server applied of a pipelined stream is always a prefix of what was sent.
  let epoch = 0
  const cut = () => {
    epoch += 1
    return relay?.cutAll() ?? 0
  }

  /** One append, as the storage writer would decide it, with an armed fault applied around the commit. */
  const decide = (stream: string, expected: ExpectedVersion, events: ReadonlyArray<ProposedEvent>) => {
    appendRequests += 1
    const fault = faults.shift()
    if (fault === "before-commit") return cut(), null
    const outcome = log.append(stream, expected, events)
    if (fault === "after-commit") return cut(), null
    return outcome
  }
  const sizeOf = (events: ReadonlyArray<ProposedEvent>) => events.reduce((n, e) => n + e.data.length + e.metadata.length + e.type.length, 0)

  // Read replies are sent as bytes, each event serialized once (google-protobuf is slow to serialize).
  const eventBytes = (e: StoredEvent, uuidAsString: boolean): Buffer => {
    if (!uuidAsString) return Buffer.from(readEvent(e, false).serializeBinary())
    let bytes = serialized.get(e)
    if (bytes === undefined) serialized.set(e, (bytes = Buffer.from(readEvent(e, true).serializeBinary())))
    return bytes
  }
  const send = (call: grpc.ServerWritableStream<ReadReq, ReadResp>, message: ReadResp | Buffer): Promise<void> =>
    call.write(message as ReadResp) ? Promise.resolve() : new Promise((resolve) => call.once("drain", () => resolve()))

  const subscribeAll = (call: grpc.ServerWritableStream<ReadReq, ReadResp>, from: bigint | "start" | "end", uuidAsString: boolean) => {
    let cursor = from === "start" ? 0 : from === "end" ? log.events.length : log.indexAtOrAfter(from + 1n)
    let closed = false
    let pumping = false
    let caught = false
    const pump = async (): Promise<void> => {
      if (pumping || closed) return
      pumping = true
      while (!closed && cursor < log.events.length) await send(call, eventBytes(log.events[cursor++]!, uuidAsString))
      if (!caught && !closed) {
        caught = true
        await send(call, caughtUp())
      }
      pumping = false
      if (!closed && cursor < log.events.length) return pump()
    }
    const off = log.onAppend(() => void pump())
    const stop = () => {
      closed = true
      off()
    }
    call.on("cancelled", stop)
    call.on("close", stop)
    call.on("error", stop)
    void send(call, confirmation(randomUUID())).then(pump)
  }

  const read: grpc.handleServerStreamingCall<ReadReq, ReadResp> = (call) => {
    const options = call.request.getOptions()
    const fail = (code: grpc.status, details: string) => call.destroy(Object.assign(new Error(details), rpcError(code, details)))
    if (options === undefined) return fail(grpc.status.INVALID_ARGUMENT, "options are required")
    if (options.hasFilter()) return fail(grpc.status.UNIMPLEMENTED, "the double does not implement server-side filters")
    const uuidAsString = options.getUuidOption()?.hasString() ?? false
    const backwards = options.getReadDirection() === 1
    const count = Number(options.getCount())
    const write = async (events: ReadonlyArray<StoredEvent>) => {
      for (const e of events) await send(call, eventBytes(e, uuidAsString))
      call.end()
    }
    if (options.hasStream()) {
      if (options.hasSubscription()) return fail(grpc.status.UNIMPLEMENTED, "the double does not implement stream subscriptions")
      const s = options.getStream()!
      const name = streamNameOf(s.getStreamIdentifier())
      const from = s.hasRevision() ? BigInt(s.getRevision()) : s.hasEnd() ? "end" : "start"
      const events = log.readStream(name, from, count, backwards)
      if (events === null) return void send(call, streamNotFound(name)).then(() => call.end())
      return void write(events)
    }
    const all = options.getAll()
    if (all === undefined) return fail(grpc.status.INVALID_ARGUMENT, "stream or all is required")
    const from = all.hasPosition() ? BigInt(all.getPosition()!.getCommitPosition()) : all.hasEnd() ? "end" : "start"
    if (options.hasSubscription()) return subscribeAll(call, from, uuidAsString)
    return void write(log.readAll(from, count, backwards))
  }

  const append: grpc.handleClientStreamingCall<AppendReq, AppendResp> = (call, callback) => {
    const born = epoch
    let header: ReturnType<AppendReq["getOptions"]>
    const events: Array<ProposedEvent> = []
    let missing: string | null = null
    call.on("data", (req: AppendReq) => {
      if (req.hasOptions()) header = req.getOptions()
      else if (req.hasProposedMessage()) {
        const e = proposedEvent(req.getProposedMessage()!)
        if (typeof e === "string") missing ??= e
        else events.push(e)
      }
    })
    call.on("end", () => {
      if (born !== epoch) return
      if (header === undefined) return callback(rpcError(grpc.status.INVALID_ARGUMENT, "the first message must carry options"))
      if (missing !== null)
        return callback(rpcError(grpc.status.INVALID_ARGUMENT, `Required metadata property ${missing} is missing`, "missing-required-metadata-property", { "required-metadata-properties": missing }))
      if (sizeOf(events) > maxAppendSize)
        return callback(rpcError(grpc.status.INVALID_ARGUMENT, "Maximum Append Size Exceeded", "maximum-append-size-exceeded", { "maximum-append-size": String(maxAppendSize) }))
      const stream = streamNameOf(header.getStreamIdentifier())
      const expected = appendExpected(header)
      const outcome = decide(stream, expected, events)
      if (outcome !== null) callback(null, appendResp(outcome, expected))
    })
  }

  const batchAppend: grpc.handleBidiStreamingCall<BatchAppendReq, BatchAppendResp> = (call) => {
    const born = epoch
    const pending = new Map<string, { stream: string; expected: ExpectedVersion; events: Array<ProposedEvent> }>()
    call.on("data", (req: BatchAppendReq) => {
      if (born !== epoch) return
      const correlation = uuidText(req.getCorrelationId())
      const opts = req.getOptions()
      if (opts !== undefined) pending.set(correlation, { stream: streamNameOf(opts.getStreamIdentifier()), expected: batchExpected(opts), events: [] })
      const write = pending.get(correlation)
      if (write === undefined) return
      for (const m of req.getProposedMessagesList()) {
        const e = proposedEvent(m)
        if (typeof e !== "string") write.events.push(e)
      }
      if (!req.getIsFinal()) return
      pending.delete(correlation)
      if (sizeOf(write.events) > maxAppendSize) return void call.write(batchAppendTooLarge(req.getCorrelationId()!, write.stream, maxAppendSize))
      const outcome = decide(write.stream, write.expected, write.events)
      if (outcome !== null) call.write(batchAppendResp(req.getCorrelationId()!, write.stream, outcome, write.expected))
    })
    call.on("end", () => call.end())
    call.on("error", () => pending.clear())
  }

  const unimplemented = (_call: unknown, callback: grpc.sendUnaryData<never>) =>
    callback(rpcError(grpc.status.UNIMPLEMENTED, "not implemented by the EventStoreDB double"))

  const server = new grpc.Server()
  const readPassesBytes = {
    ...streamsGrpc.StreamsService.read,
    responseSerialize: (m: ReadResp | Buffer) => (Buffer.isBuffer(m) ? m : Buffer.from(m.serializeBinary()))
  }
  server.addService({ ...streamsGrpc.StreamsService, read: readPassesBytes } as typeof streamsGrpc.StreamsService, { read, append, batchAppend, delete: unimplemented, tombstone: unimplemented })
  server.addService(featuresGrpc.ServerFeaturesService, {
    getSupportedMethods: (_call: unknown, callback: grpc.sendUnaryData<featuresPb.SupportedMethods>) => {
      if (options.batchAppend === false) return callback(rpcError(grpc.status.UNIMPLEMENTED, "ServerFeatures is not implemented (a 20.10 server)"))
      const method = (name: string, features: Array<string>) =>
        new featuresPb.SupportedMethod().setServiceName("event_store.client.streams.streams").setMethodName(name).setFeaturesList(features)
      callback(
        null,
        new featuresPb.SupportedMethods()
          .setEventStoreServerVersion("24.10.0")
          .setMethodsList([method("read", ["position", "events"]), method("append", []), method("batchappend", ["deadline_duration"])])
      )
    }
  })
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port)))
  )
  relay = await startRelay(grpcPort)
  const activeRelay = relay

  return {
    connection: `esdb://127.0.0.1:${activeRelay.port}?tls=false`,
    log,
    dropAppends: (moment, times = 1) => {
      for (let i = 0; i < times; i++) faults.push(moment)
    },
    clearDrops: () => {
      faults.length = 0
    },
    armedDrops: () => faults.length,
    cutConnections: cut,
    tamper: (eventId, edit) => {
      const e = log.findById(eventId)
      if (e === undefined) throw new Error(`the double holds no event ${eventId}`)
      e.data = Buffer.from(edit(Buffer.from(e.data).toString("utf8")), "utf8")
      serialized.delete(e)
    },
    appendRequests: () => appendRequests,
    close: async () => {
      await activeRelay.close()
      server.forceShutdown()
    }
  }
}

/** The double as a scoped resource: started for the scope, shut down when it closes. */
export const esdbDouble = (options: EsdbDoubleOptions = {}) =>
  Effect.acquireRelease(
    Effect.promise(() => startEsdbDouble(options)),
    (d) => Effect.promise(() => d.close())
  )
