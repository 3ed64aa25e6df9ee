// The workspace tools: read, write and list files, and the cumulative diff since launch. Files are
// reached from the host through `workspace-files.ts` (never outside `<data-dir>/sandboxes/<id>/
// workspace`); a write is recorded with its content hash, the content kept in the blob store.
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { compareManifests, unifiedDiff, type ManifestEntry } from "../../domain/agents/workspace-diff.js"
import { agentStream, WorkspaceFileWritten } from "../../domain/events/agent-events.js"
import { sandboxDirs } from "../sandbox/mapping.js"
import { makePolicyGate } from "./policy-gate.js"
import type { ToolDeps } from "./tool-deps.js"
import { agentActor, findOwn, fromServiceError, ToolFailed, ToolRefused, type ToolContext, type ToolError } from "./tool-context.js"
import { MAX_FILE_BYTES, type ToolInput } from "./tool-schemas.js"
import { listWorkspace, openWorkspace, readWorkspaceFile, workspaceManifest, writeWorkspaceFile, type WorkspaceError } from "./workspace-files.js"

const DEFAULT_READ_BYTES = 1024 * 1024
const DIFFABLE_BYTES = 64 * 1024
const DIFF_BUDGET_BYTES = 256 * 1024
const MANIFEST_LIMITS = { maxFiles: 10_000, maxBytes: 512 * 1024 * 1024 }

const fromWorkspace = Effect.mapError((e: WorkspaceError): ToolError => (e._tag === "WorkspaceRefused" ? new ToolRefused({ reason: e.message }) : new ToolFailed({ reason: e.message })))

const sha256Of = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The bytes as text when they are UTF-8 without NUL bytes, else null. */
const asText = (bytes: Uint8Array): string | null => {
  if (bytes.includes(0)) return null
  try {
    return utf8.decode(bytes)
  } catch {
    return null
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

const ManifestEntrySchema = Schema.Struct({ path: Schema.String, kind: Schema.Literal("file", "symlink"), sha256: Schema.String, bytes: Schema.Number })
const Baseline = Schema.Struct({ takenAt: Schema.String, entries: Schema.Array(ManifestEntrySchema), truncated: Schema.Boolean })
const decodeBaseline = Schema.decodeUnknownEither(Schema.parseJson(Baseline))

const baselineFile = (dataDir: string, sandboxId: string) => join(sandboxDirs(dataDir, sandboxId).root, "baseline.json")

/** The workspace as launched: its listing, with small files kept in the blob store for diffs. */
export const recordBaseline = (deps: ToolDeps, sandboxId: string) =>
  Effect.gen(function* () {
    const ws = yield* openWorkspace(sandboxDirs(deps.dataDir, sandboxId).workspace).pipe(fromWorkspace)
    const manifest = yield* workspaceManifest(ws, MANIFEST_LIMITS).pipe(fromWorkspace)
    for (const entry of manifest.entries) {
      if (entry.kind !== "file" || entry.bytes > DIFFABLE_BYTES) continue
      const file = yield* Effect.either(readWorkspaceFile(ws, entry.path, DIFFABLE_BYTES))
      if (file._tag === "Right") yield* deps.blobs.put(file.right.content).pipe(Effect.mapError(fromServiceError))
    }
    const baseline = { takenAt: new Date().toISOString(), entries: manifest.entries, truncated: manifest.truncated }
    yield* Effect.try({
      try: () => fs.writeFileSync(baselineFile(deps.dataDir, sandboxId), JSON.stringify(baseline), { mode: 0o600 }),
      catch: (e) => new ToolFailed({ reason: `cannot keep the workspace baseline: ${String(e)}` })
    })
  })

const readBaseline = (dataDir: string, sandboxId: string): { since: string; entries: ReadonlyArray<ManifestEntry> } => {
  let text: string
  try {
    text = fs.readFileSync(baselineFile(dataDir, sandboxId), "utf8")
  } catch {
    // Handed over by an operator (`launch --agent`): runners create the workspace empty.
    return { since: "launch (the workspace started empty)", entries: [] }
  }
  const decoded = decodeBaseline(text)
  return decoded._tag === "Right" ? { since: `launch (${decoded.right.takenAt})`, entries: decoded.right.entries } : { since: "launch (the workspace started empty)", entries: [] }
}

export const workspaceTools = (deps: ToolDeps) => {
  const own = (ctx: ToolContext, ref: string) => findOwn(deps.service, deps.ledger.writerId, ctx, ref)
  const gate = makePolicyGate(deps)
  const workspaceOf = (sandboxId: string) => openWorkspace(sandboxDirs(deps.dataDir, sandboxId).workspace).pipe(fromWorkspace)

  const read_file = (input: ToolInput<"read_file">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const view = yield* own(ctx, input.environment)
      const ws = yield* workspaceOf(view.id)
      const file = yield* readWorkspaceFile(ws, input.path, input.max_bytes ?? DEFAULT_READ_BYTES).pipe(fromWorkspace)
      const asUtf8 = input.encoding === "base64" ? null : asText(file.content)
      return {
        path: file.path,
        size: file.size,
        content: asUtf8 ?? file.content.toString("base64"),
        encoding: asUtf8 === null ? ("base64" as const) : ("utf8" as const),
        truncated: file.truncated,
        sha256: file.truncated ? null : sha256Of(file.content)
      }
    })

  const write_file = (input: ToolInput<"write_file">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const view = yield* own(ctx, input.environment)
      yield* gate.require(ctx, "can_exec", view)
      if (input.encoding === "base64" && !BASE64.test(input.content.replace(/\s+/g, ""))) return yield* new ToolRefused({ reason: "content is not base64" })
      const content = Buffer.from(input.content, input.encoding === "base64" ? "base64" : "utf8")
      if (content.byteLength > MAX_FILE_BYTES) return yield* new ToolRefused({ reason: `content is larger than ${MAX_FILE_BYTES} bytes` })
      const ws = yield* workspaceOf(view.id)
      const written = yield* writeWorkspaceFile(ws, input.path, content, { createParents: input.create_parents ?? true }).pipe(fromWorkspace)
      const stored = yield* deps.blobs.put(content).pipe(Effect.mapError(fromServiceError))
      yield* deps.ledger
        .append(
          agentStream(ctx.caller.agent.id),
          [{ type: WorkspaceFileWritten.type, data: { sandboxId: view.id, path: written.path, sha256: stored.sha256, bytes: stored.bytes, created: written.created }, sensitive: WorkspaceFileWritten.sensitive }],
          { actor: agentActor(ctx.caller.agent), correlation: ctx.call.callId }
        )
        .pipe(Effect.mapError(fromServiceError))
      return { path: written.path, bytes: written.bytes, sha256: stored.sha256, created: written.created }
    })

  const list_files = (input: ToolInput<"list_files">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const view = yield* own(ctx, input.environment)
      const ws = yield* workspaceOf(view.id)
      return yield* listWorkspace(ws, input.path ?? ".", { recursive: input.recursive ?? false, maxEntries: input.max_entries ?? 1000 }).pipe(fromWorkspace)
    })

  const environment_diff = (input: ToolInput<"environment_diff">, ctx: ToolContext) =>
    Effect.gen(function* () {
      const view = yield* own(ctx, input.environment)
      const ws = yield* workspaceOf(view.id)
      const baseline = readBaseline(deps.dataDir, view.id)
      const current = yield* workspaceManifest(ws, MANIFEST_LIMITS).pipe(fromWorkspace)
      const changes = compareManifests(baseline.entries, current.entries)
      let budget = input.include_diffs === false ? 0 : DIFF_BUDGET_BYTES
      const diffOf = (before: ManifestEntry | null, after: ManifestEntry) =>
        Effect.gen(function* () {
          if (budget <= 0 || after.kind !== "file" || after.bytes > DIFFABLE_BYTES || (before !== null && (before.kind !== "file" || before.bytes > DIFFABLE_BYTES))) return {}
          const now = yield* Effect.either(readWorkspaceFile(ws, after.path, DIFFABLE_BYTES))
          const was = before === null ? null : yield* Effect.orElseSucceed(deps.blobs.get(before.sha256), () => null)
          if (now._tag === "Left" || (before !== null && was === null)) return {}
          const afterText = asText(now.right.content)
          const beforeText = was === null ? null : asText(was)
          if (afterText === null || (was !== null && beforeText === null)) return {}
          const diff = unifiedDiff(after.path, beforeText, afterText)
          budget -= diff.length
          return budget < 0 ? {} : { diff }
        })
      const added = yield* Effect.forEach(changes.added, (e) => Effect.map(diffOf(null, e), (d) => ({ ...e, ...d })))
      const changed = yield* Effect.forEach(changes.changed, (c) => Effect.map(diffOf(c.before, c.after), (d) => ({ path: c.after.path, before: c.before, after: c.after, ...d })))
      return { since: baseline.since, added, changed, removed: [...changes.removed], truncated: current.truncated }
    })

  return { read_file, write_file, list_files, environment_diff }
}
