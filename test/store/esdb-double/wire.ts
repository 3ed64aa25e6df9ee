// Protobuf messages of EventStoreDB's gRPC protocol <-> the double's log, built with the generated
// classes that ship with @eventstore/db-client, so the double speaks exactly the client's wire format.
import grpc from "@grpc/grpc-js"
import anyPb from "google-protobuf/google/protobuf/any_pb.js"
import emptyPb from "google-protobuf/google/protobuf/empty_pb.js"
import sharedPb from "@eventstore/db-client/generated/shared_pb.js"
import statusPb from "@eventstore/db-client/generated/status_pb.js"
import streamsPb from "@eventstore/db-client/generated/streams_pb.js"
import type { AppendOutcome, ExpectedVersion, ProposedEvent, StoredEvent } from "./log.js"

const { ReadResp, AppendResp, BatchAppendResp } = streamsPb
type Uuid = InstanceType<typeof sharedPb.UUID>
type ProposedMessage = InstanceType<typeof streamsPb.AppendReq.ProposedMessage> | InstanceType<typeof streamsPb.BatchAppendReq.ProposedMessage>

export const bytesOf = (value: Uint8Array | string): Uint8Array => (typeof value === "string" ? Buffer.from(value, "base64") : value)

export const streamNameOf = (id: InstanceType<typeof sharedPb.StreamIdentifier> | undefined): string =>
  id === undefined ? "" : Buffer.from(bytesOf(id.getStreamName())).toString("utf8")

export const streamIdentifier = (name: string) => {
  const id = new sharedPb.StreamIdentifier()
  id.setStreamName(Buffer.from(name, "utf8"))
  return id
}

export const uuidText = (uuid: Uuid | undefined): string => {
  if (uuid === undefined) return ""
  if (uuid.hasString()) return uuid.getString()
  const s = uuid.getStructured()!
  const hex =
    BigInt.asUintN(64, BigInt(s.getMostSignificantBits())).toString(16).padStart(16, "0") +
    BigInt.asUintN(64, BigInt(s.getLeastSignificantBits())).toString(16).padStart(16, "0")
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

export const uuidMessage = (text: string, asString: boolean): Uuid => {
  const uuid = new sharedPb.UUID()
  if (asString) return uuid.setString(text)
  const hex = text.replace(/-/g, "")
  const structured = new sharedPb.UUID.Structured()
  structured.setMostSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(0, 16)}`)).toString())
  structured.setLeastSignificantBits(BigInt.asIntN(64, BigInt(`0x${hex.slice(16)}`)).toString())
  return uuid.setStructured(structured)
}

/** The server refuses a proposed event without these two metadata entries. */
export const proposedEvent = (message: ProposedMessage): ProposedEvent | string => {
  const meta = message.getMetadataMap()
  const type = meta.get("type")
  const contentType = meta.get("content-type")
  if (type === undefined) return "type"
  if (contentType === undefined) return "content-type"
  return { id: uuidText(message.getId()), type, contentType, data: bytesOf(message.getData()), metadata: bytesOf(message.getCustomMetadata()) }
}

export const readEvent = (e: StoredEvent, uuidAsString: boolean) => {
  const recorded = new ReadResp.ReadEvent.RecordedEvent()
  recorded.setId(uuidMessage(e.id, uuidAsString))
  recorded.setStreamIdentifier(streamIdentifier(e.stream))
  recorded.setStreamRevision(e.revision.toString())
  recorded.setPreparePosition(e.position.toString())
  recorded.setCommitPosition(e.position.toString())
  const meta = recorded.getMetadataMap()
  meta.set("type", e.type)
  meta.set("created", e.created.toString())
  meta.set("content-type", e.contentType)
  recorded.setCustomMetadata(e.metadata)
  recorded.setData(e.data)
  const event = new ReadResp.ReadEvent()
  event.setEvent(recorded)
  event.setCommitPosition(e.position.toString())
  return new ReadResp().setEvent(event)
}

export const streamNotFound = (stream: string) => {
  const notFound = new ReadResp.StreamNotFound()
  notFound.setStreamIdentifier(streamIdentifier(stream))
  return new ReadResp().setStreamNotFound(notFound)
}

export const confirmation = (id: string) => new ReadResp().setConfirmation(new ReadResp.SubscriptionConfirmation().setSubscriptionId(id))

export const caughtUp = () => new ReadResp().setCaughtUp(new ReadResp.CaughtUp())

export const appendExpected = (options: InstanceType<typeof streamsPb.AppendReq.Options>): ExpectedVersion =>
  options.hasRevision() ? BigInt(options.getRevision()) : options.hasNoStream() ? "no_stream" : options.hasStreamExists() ? "stream_exists" : "any"

export const batchExpected = (options: InstanceType<typeof streamsPb.BatchAppendReq.Options>): ExpectedVersion =>
  options.hasStreamPosition() ? BigInt(options.getStreamPosition()) : options.hasNoStream() ? "no_stream" : options.hasStreamExists() ? "stream_exists" : "any"

/** Streams.Append's reply: success, or wrong_expected_version filled in both its old and new fields. */
export const appendResp = (outcome: AppendOutcome, expected: ExpectedVersion) => {
  const resp = new AppendResp()
  if (outcome.kind === "success") {
    const success = new AppendResp.Success()
    if (outcome.currentRevision === null) success.setNoStream(new sharedPb.Empty())
    else success.setCurrentRevision(outcome.currentRevision.toString())
    if (outcome.position === null) success.setNoPosition(new sharedPb.Empty())
    else success.setPosition(new AppendResp.Position().setCommitPosition(outcome.position.toString()).setPreparePosition(outcome.position.toString()))
    return resp.setSuccess(success)
  }
  const wrong = new AppendResp.WrongExpectedVersion()
  if (outcome.currentRevision === null) {
    wrong.setCurrentNoStream(new sharedPb.Empty())
    wrong.setNoStream2060(new sharedPb.Empty())
  } else {
    wrong.setCurrentRevision(outcome.currentRevision.toString())
    wrong.setCurrentRevision2060(Number(outcome.currentRevision))
  }
  if (expected === "any") wrong.setExpectedAny(new sharedPb.Empty()).setAny2060(new sharedPb.Empty())
  else if (expected === "stream_exists") wrong.setExpectedStreamExists(new sharedPb.Empty()).setStreamExists2060(new sharedPb.Empty())
  else if (expected === "no_stream") wrong.setExpectedNoStream(new sharedPb.Empty())
  else wrong.setExpectedRevision(expected.toString()).setExpectedRevision2060(Number(expected))
  return resp.setWrongExpectedVersion(wrong)
}

const packedStatus = (code: grpc.status, message: string, typeName: string, detail: { serializeBinary(): Uint8Array }) => {
  const details = new anyPb.Any()
  details.pack(detail.serializeBinary(), typeName)
  const status = new statusPb.Status()
  status.setCode(code as number)
  status.setMessage(message)
  status.setDetails(details)
  return status
}

/** Streams.BatchAppend's reply for one request: success, or a google.rpc.Status with packed details. */
export const batchAppendResp = (correlationId: Uuid, stream: string, outcome: AppendOutcome, expected: ExpectedVersion) => {
  const resp = new BatchAppendResp()
  resp.setCorrelationId(correlationId)
  resp.setStreamIdentifier(streamIdentifier(stream))
  if (outcome.kind === "success") {
    const success = new BatchAppendResp.Success()
    if (outcome.currentRevision === null) success.setNoStream(new emptyPb.Empty())
    else success.setCurrentRevision(outcome.currentRevision.toString())
    if (outcome.position === null) success.setNoPosition(new emptyPb.Empty())
    else success.setPosition(new sharedPb.AllStreamPosition().setCommitPosition(outcome.position.toString()).setPreparePosition(outcome.position.toString()))
    return resp.setSuccess(success)
  }
  const wrong = new sharedPb.WrongExpectedVersion()
  if (outcome.currentRevision === null) wrong.setCurrentNoStream(new emptyPb.Empty())
  else wrong.setCurrentStreamRevision(outcome.currentRevision.toString())
  if (expected === "any") wrong.setExpectedAny(new emptyPb.Empty())
  else if (expected === "stream_exists") wrong.setExpectedStreamExists(new emptyPb.Empty())
  else if (expected === "no_stream") wrong.setExpectedNoStream(new emptyPb.Empty())
  else wrong.setExpectedStreamPosition(expected.toString())
  return resp.setError(packedStatus(grpc.status.ALREADY_EXISTS, "WrongExpectedVersion", "event_store.client.WrongExpectedVersion", wrong))
}

export const batchAppendTooLarge = (correlationId: Uuid, stream: string, maxAppendSize: number) => {
  const detail = new sharedPb.MaximumAppendSizeExceeded()
  detail.setMaxappendsize(maxAppendSize)
  const resp = new BatchAppendResp()
  resp.setCorrelationId(correlationId)
  resp.setStreamIdentifier(streamIdentifier(stream))
  return resp.setError(packedStatus(grpc.status.INVALID_ARGUMENT, "MaximumAppendSizeExceeded", "event_store.client.MaximumAppendSizeExceeded", detail))
}

/** A call error as the server raises it: a status plus the `exception` trailer the client maps to a typed error. */
export const rpcError = (code: grpc.status, details: string, exception?: string, extra: Record<string, string> = {}) => {
  const metadata = new grpc.Metadata()
  if (exception !== undefined) metadata.set("exception", exception)
  for (const [k, v] of Object.entries(extra)) metadata.set(k, v)
  return { code, details, metadata }
}
