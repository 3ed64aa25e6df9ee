// A handle's runner state, decoded once per state object. Handles come from the sandboxes projection,
// which hands every call on a sandbox the same state object, and nothing mutates it (records are
// immutable); decoding it again on each exec cost ~0.2 ms of the daemon's main thread per call. A
// state the runner has not seen yet (another object, e.g. read back from the ledger after a restart)
// is decoded as before, and a bad one fails the same way every time.
import { Schema, type Either, type ParseResult } from "effect"

export const decodeOncePerObject = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(schema)
  const seen = new WeakMap<object, Either.Either<A, ParseResult.ParseError>>()
  return (value: unknown): Either.Either<A, ParseResult.ParseError> => {
    if (value === null || typeof value !== "object") return decode(value)
    const known = seen.get(value)
    if (known !== undefined) return known
    const decoded = decode(value)
    seen.set(value, decoded)
    return decoded
  }
}
