// Redactable values (design.md §2): a sensitive value is stored sealed with a random salt and the
// record hash covers only its commitment SHA-256(salt ‖ JCS(value)), so it can later be dropped.
import { createHash } from "node:crypto"
import { Schema } from "effect"
import { canonicalize } from "./canonical-json.js"
import type { LedgerRecord } from "./record.js"

export const SaltHex = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{32}$/))

export const SealedValue = Schema.Struct({
  $sealed: Schema.Struct({ salt: SaltHex, value: Schema.Unknown })
})
export type SealedValue = Schema.Schema.Type<typeof SealedValue>

export const RedactedValue = Schema.Struct({ $redacted: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/)) })
export type RedactedValue = Schema.Schema.Type<typeof RedactedValue>

/** How a sensitive field of type A is stored: sealed (value present) or redacted (commitment only). */
export const Sensitive = <A, I, R>(value: Schema.Schema<A, I, R>) =>
  Schema.Union(
    Schema.Struct({ $sealed: Schema.Struct({ salt: SaltHex, value }) }),
    RedactedValue
  )

export const seal = (value: unknown, saltHex: string): SealedValue => ({ $sealed: { salt: saltHex, value } })

export const commitment = (saltHex: string, value: unknown): string =>
  createHash("sha256")
    .update(Buffer.from(saltHex, "hex"))
    .update(canonicalize(value), "utf8")
    .digest("hex")

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v)

const asSealed = (v: Record<string, unknown>): { salt: string; value: unknown } | undefined => {
  const inner = v["$sealed"]
  if (!isObject(inner) || Object.keys(v).length !== 1) return undefined
  const salt = inner["salt"]
  const keys = Object.keys(inner)
  const wellFormed = typeof salt === "string" && keys.length === 2 && "value" in inner && inner["value"] !== undefined
  return wellFormed ? { salt, value: inner["value"] } : undefined
}

/** The value as the hash sees it: every sealed value replaced by `{ $redacted: commitment }`. */
export const hashView = (value: unknown): unknown => {
  if (Array.isArray(value)) {
    let changed = false
    const out = value.map((item) => {
      const next = hashView(item)
      if (next !== item) changed = true
      return next
    })
    return changed ? out : value
  }
  if (!isObject(value)) return value
  const sealed = asSealed(value)
  if (sealed) return { $redacted: commitment(sealed.salt, sealed.value) }
  let out: Record<string, unknown> | undefined
  for (const key of Object.keys(value)) {
    const item = value[key]
    const next = hashView(item)
    if (next !== item) {
      out ??= { ...value }
      out[key] = next
    }
  }
  return out ?? value
}

/** Drops the value and salt of the named top-level data fields ("*" for every sealed field). */
export const redactData = (
  data: Readonly<Record<string, unknown>>,
  fields: ReadonlyArray<string>
): Record<string, unknown> => {
  const all = fields.includes("*")
  const out: Record<string, unknown> = { ...data }
  for (const key of Object.keys(out)) {
    if (!all && !fields.includes(key)) continue
    const item = out[key]
    out[key] = all ? hashView(item) : isObject(item) && asSealed(item) ? hashView(item) : item
  }
  return out
}

/** A redacted copy of a record: same hash and signature, the named sealed values gone. */
export const redact = (record: LedgerRecord, fields: ReadonlyArray<string>): LedgerRecord => ({
  ...record,
  data: redactData(record.data, fields)
})

/** The plain value of a sensitive field, or undefined when it was redacted. */
export const unseal = (v: unknown): unknown => {
  if (!isObject(v)) return v
  const sealed = asSealed(v)
  if (sealed) return sealed.value
  return "$redacted" in v ? undefined : v
}
