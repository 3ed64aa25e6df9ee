// What agents do through MCP, as ledger facts: their identities and tokens, every tool call (refused
// ones too), every refused access, and the workspace changes a tool makes without a runner command.
// Agent events go to the stream `agent-<id>`; refused access to `host-<writer>` (the caller may be
// nobody we know).
import { Schema } from "effect"
import { defineEvent } from "../ledger/event-definition.js"
import { NonNegativeInt, Sha256Hex } from "../ledger/record.js"
import { Redactable } from "./redactable.js"

export const AgentId = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9._-]{0,62}$/),
  Schema.annotations({ identifier: "AgentId", description: "lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters" })
)

export const agentStream = (agentId: string): string => `agent-${agentId}`

/** First 16 hex digits of the SHA-256 of a token: names a token without giving it away. */
export const TokenFingerprint = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{16}$/))

export const McpTransport = Schema.Literal("stdio", "http", "memory")
export type McpTransport = Schema.Schema.Type<typeof McpTransport>

export const AgentRegistered = defineEvent(
  "AgentRegistered",
  Schema.Struct({
    agentId: AgentId,
    tokenFingerprint: TokenFingerprint,
    /** The policy the agent's environments get; null: the template's. */
    policy: Schema.NullOr(Schema.String),
    /** RFC 3339, or null for a token that does not expire. */
    expiresAt: Schema.NullOr(Schema.String),
    /** When the operator issued the token (the record's own time is when the daemon saw it). */
    issuedAt: Schema.String,
    /** `registry`: `hydravisor agents add`; `ad-hoc`: `hydravisor mcp --auth-token`. */
    source: Schema.Literal("registry", "ad-hoc")
  }),
  { description: "An agent identity and its bearer token were issued (the token itself is never recorded)." }
)

export const AgentTokenRevoked = defineEvent(
  "AgentTokenRevoked",
  Schema.Struct({ agentId: AgentId, tokenFingerprint: TokenFingerprint, revokedAt: Schema.String }),
  { description: "An agent's token was revoked; every later request with it is refused." }
)

export const DenialReason = Schema.Literal(
  "missing-token",
  "unknown-token",
  "expired-token",
  "revoked-token",
  "agent-mismatch",
  "foreign-session",
  "not-owner",
  "policy-denied"
)
export type DenialReason = Schema.Schema.Type<typeof DenialReason>

export const AccessDenied = defineEvent(
  "AccessDenied",
  Schema.Struct({
    transport: McpTransport,
    reason: DenialReason,
    /** The agent the token belongs to, or the one the caller claimed; null when unknown. */
    agentId: Schema.NullOr(Schema.String),
    /** What was asked for, when the request got that far. */
    tool: Schema.NullOr(Schema.String),
    sandboxId: Schema.NullOr(Schema.String),
    /** The peer address (HTTP) or null. */
    remote: Schema.NullOr(Schema.String),
    /** `policy-denied`: the policy and the rule of it that refused (`access.roles.sandboxed.can_create`). */
    policy: Schema.optional(Schema.String),
    rule: Schema.optional(Schema.String)
  }),
  { description: "A request was refused before it reached a tool: no, a wrong, expired or revoked token, another agent's sandbox, or a capability the agent's policy does not grant." }
)

export const ToolOutcome = Schema.Literal("ok", "refused", "invalid", "failed")
export type ToolOutcome = Schema.Schema.Type<typeof ToolOutcome>

export const ToolCalled = defineEvent(
  "ToolCalled",
  Schema.Struct({
    /** The MCP tool, or `resources/read` for a resource. */
    tool: Schema.String,
    /** The environment the call was about, once resolved to one of the agent's own. */
    sandboxId: Schema.NullOr(Schema.String),
    /** As sent, with long strings replaced by `{ $sha256, bytes }`. */
    arguments: Redactable(Schema.Unknown),
    /** `refused`: not allowed or not found; `invalid`: arguments did not match the schema; `failed`: the operation failed. */
    outcome: ToolOutcome,
    error: Redactable(Schema.NullOr(Schema.String)),
    durationMs: Schema.Number.pipe(Schema.nonNegative()),
    transport: McpTransport,
    session: Schema.NullOr(Schema.String)
  }),
  { description: "An agent called an MCP tool; the events it caused share this record's correlation id.", sensitive: ["arguments", "error"] }
)

export const WorkspaceFileWritten = defineEvent(
  "WorkspaceFileWritten",
  Schema.Struct({
    sandboxId: Schema.String,
    /** Relative to /workspace. */
    path: Redactable(Schema.String),
    /** The content, stored content-addressed in the blob store. */
    sha256: Sha256Hex,
    bytes: NonNegativeInt,
    created: Schema.Boolean
  }),
  { description: "A tool wrote a file into a sandbox's workspace from the host.", sensitive: ["path"] }
)

export const WorkspaceSnapshotted = defineEvent(
  "WorkspaceSnapshotted",
  Schema.Struct({ sandboxId: Schema.String, snapshotId: Schema.String, contentHash: Sha256Hex }),
  { description: "A copy of a sandbox's workspace was taken; the hash is over its canonical listing." }
)

export const WorkspaceRolledBack = defineEvent(
  "WorkspaceRolledBack",
  Schema.Struct({
    sandboxId: Schema.String,
    snapshotId: Schema.String,
    /** Hash of the restored workspace (as WorkspaceSnapshotted's); absent in records written before it was added. */
    contentHash: Schema.optionalWith(Sha256Hex, { exact: true })
  }),
  { description: "A sandbox's workspace was replaced by an earlier snapshot; the hash is over the restored content's canonical listing." }
)

export const agentEvents = [
  AgentRegistered,
  AgentTokenRevoked,
  AccessDenied,
  ToolCalled,
  WorkspaceFileWritten,
  WorkspaceSnapshotted,
  WorkspaceRolledBack
] as const
