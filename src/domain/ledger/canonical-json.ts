// RFC 8785 JSON Canonicalization Scheme (JCS): the bytes that record hashes and commitments cover.
// Written here rather than taken from `canonicalize` (whose current major needs Node 22); the RFC's
// published examples are the known-answer tests in test/domain/ledger/canonical-json.test.ts.

export class NotCanonicalizable extends Error {
  override readonly name = "NotCanonicalizable"
}

/** Canonical JSON text of a JSON value: sorted keys (UTF-16 code units), ES number and string forms. */
export const canonicalize = (value: unknown): string => {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value)
    case "number":
      if (!Number.isFinite(value)) throw new NotCanonicalizable(`non-finite number ${value}`)
      // ES Number.prototype.toString is exactly the RFC's number serialisation (-0 becomes 0).
      return JSON.stringify(value)
    case "boolean":
      return value ? "true" : "false"
    case "object": {
      if (value === null) return "null"
      if (Array.isArray(value)) {
        let out = "["
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ","
          const item: unknown = value[i]
          out += item === undefined ? "null" : canonicalize(item)
        }
        return out + "]"
      }
      const record = value as Record<string, unknown>
      // Default sort compares UTF-16 code units, which is what RFC 8785 §3.2.3 asks for.
      const keys = Object.keys(record).sort()
      let out = "{"
      let first = true
      for (const key of keys) {
        const item = record[key]
        if (item === undefined) continue
        if (!first) out += ","
        first = false
        out += JSON.stringify(key) + ":" + canonicalize(item)
      }
      return out + "}"
    }
    default:
      throw new NotCanonicalizable(`a ${typeof value} is not a JSON value`)
  }
}
