// How a sensitive payload field reads back from the ledger: its value while sealed, only the
// commitment once redacted. Event Schemas declare such fields `Redactable(X)`, so decoding a redacted
// record succeeds and code that needs the value has to say what it does without it.
import { Schema } from "effect"
import { RedactedValue } from "../ledger/sealed.js"

export const Redactable = <A, I>(value: Schema.Schema<A, I>) => Schema.Union(value, RedactedValue)

export const isRedacted = (value: unknown): value is RedactedValue =>
  typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && "$redacted" in value

/** The value of a redactable field, or `fallback` when it was redacted. */
export const valueOr = <A, B>(value: A | RedactedValue, fallback: B): A | B => (isRedacted(value) ? fallback : value)

const isSealed = (value: unknown): value is { readonly $sealed: { readonly salt: string; readonly value: unknown } } =>
  typeof value === "object" && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 &&
  "$sealed" in value && typeof value.$sealed === "object" && value.$sealed !== null && "value" in value.$sealed

/** A stored payload with every sealed top-level field replaced by its plain value (redacted ones stay). */
export const unsealData = (data: Readonly<Record<string, unknown>>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(data)) out[key] = isSealed(item) ? item.$sealed.value : item
  return out
}
