// The JSON-RPC 2.0 envelope MCP messages travel in, decoded at our HTTP boundary. Each message is
// told apart by its keys first and then decoded against that one kind, so a valid message costs one
// decode and an invalid one says which kind it looked like and what was wrong with it.
import { Either, ParseResult, Schema } from "effect"

const Version = Schema.Literal("2.0")
const RequestId = Schema.Union(Schema.String, Schema.Int)
const Fields = Schema.Record({ key: Schema.String, value: Schema.Unknown })

export const JsonRpcRequest = Schema.Struct({ jsonrpc: Version, id: RequestId, method: Schema.String, params: Schema.optional(Fields) })
export const JsonRpcNotification = Schema.Struct({ jsonrpc: Version, method: Schema.String, params: Schema.optional(Fields) })
export const JsonRpcResult = Schema.Struct({ jsonrpc: Version, id: RequestId, result: Fields })
export const JsonRpcError = Schema.Struct({
  jsonrpc: Version,
  id: Schema.optional(RequestId),
  error: Schema.Struct({ code: Schema.Int, message: Schema.String, data: Schema.optional(Schema.Unknown) })
})

export type JsonRpcMessage =
  | Schema.Schema.Type<typeof JsonRpcRequest>
  | Schema.Schema.Type<typeof JsonRpcNotification>
  | Schema.Schema.Type<typeof JsonRpcResult>
  | Schema.Schema.Type<typeof JsonRpcError>

export type JsonRpcKind = "request" | "notification" | "result" | "error"

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

/** What a message claims to be, by its keys (a request has a method and an id; an answer, a result or an error). */
export const kindOf = (value: unknown): JsonRpcKind | null => {
  if (!isRecord(value)) return null
  if ("method" in value) return "id" in value ? "request" : "notification"
  if ("error" in value) return "error"
  return "result" in value ? "result" : null
}

const decoders: { readonly [K in JsonRpcKind]: (value: unknown) => Either.Either<JsonRpcMessage, ParseResult.ParseError> } = {
  request: Schema.decodeUnknownEither(JsonRpcRequest, { onExcessProperty: "error" }),
  notification: Schema.decodeUnknownEither(JsonRpcNotification, { onExcessProperty: "error" }),
  result: Schema.decodeUnknownEither(JsonRpcResult, { onExcessProperty: "error" }),
  error: Schema.decodeUnknownEither(JsonRpcError, { onExcessProperty: "error" })
}

/**
 * One message, or what is wrong with it (as a person reads it). A valid message is passed on as it
 * came: these schemas change nothing, and the decoder's copy of a record would set a field named
 * `__proto__` (an own field after JSON.parse) as the copy's prototype instead.
 */
export const decodeMessage = (value: unknown): Either.Either<{ readonly kind: JsonRpcKind; readonly message: JsonRpcMessage }, string> => {
  const kind = kindOf(value)
  if (kind === null) return Either.left("not a JSON-RPC 2.0 request, notification or response (an object with a method, a result or an error)")
  return Either.mapBoth(decoders[kind](value), {
    onLeft: (error) => `not a valid JSON-RPC ${kind}: ${ParseResult.TreeFormatter.formatErrorSync(error)}`,
    onRight: () => ({ kind, message: value as JsonRpcMessage })
  })
}
