// A refused command is a fact too (design.md §1): who asked for what, and why it was refused. It goes
// to the stream of the entity the command was for, or to `host-<writer>` when there is none (a launch
// that was refused, a name that matches no sandbox).
import { Schema } from "effect"
import { defineEvent } from "../ledger/event-definition.js"
import { Redactable } from "./redactable.js"

export const CommandRejected = defineEvent(
  "CommandRejected",
  Schema.Struct({
    /** The command's name: `Launch`, `Exec`, `Stop`… */
    command: Schema.String,
    /** The name or id the caller gave, as given. */
    target: Schema.NullOr(Schema.String),
    /** The sandbox it resolved to, if any. */
    sandboxId: Schema.NullOr(Schema.String),
    /** The rejection's tag: `SandboxNotRunning`, `NameTaken`, `LimitsExceeded`… */
    rejection: Schema.String,
    reason: Schema.String,
    /** The command's arguments (argv, env, names…), sealed like any other sensitive value. */
    input: Redactable(Schema.Unknown)
  }),
  { description: "A command was refused; nothing else happened.", sensitive: ["input"] }
)

export const hostStream = (writer: string): string => `host-${writer}`
