// An event type of the catalogue: its name, its payload Schema and which payload fields are sensitive
// (stored sealed, redactable later). Every event type in docs/events.md is one `defineEvent`.
import { Schema } from "effect"

export interface EventDefinition<Type extends string, A, I> {
  readonly type: Type
  readonly schema: Schema.Schema<A, I>
  readonly sensitive: ReadonlyArray<string>
  readonly description: string
}

export const defineEvent = <const Type extends string, A, I>(
  type: Type,
  schema: Schema.Schema<A, I>,
  options: { readonly description: string; readonly sensitive?: ReadonlyArray<string> }
): EventDefinition<Type, A, I> => ({
  type,
  schema,
  sensitive: options.sensitive ?? [],
  description: options.description
})

/** What a decider or adapter hands the ledger: a type and a plain payload, not yet sealed or signed. */
export interface NewEvent {
  readonly type: string
  readonly data: Readonly<Record<string, unknown>>
  /** top-level payload fields to seal; taken from the event's definition when omitted */
  readonly sensitive?: ReadonlyArray<string>
}
