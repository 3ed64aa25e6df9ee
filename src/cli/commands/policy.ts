// `hydravisor policy list|show|validate|apply|diff|schema`: policies as documents and as ledger
// versions. Reading verbs open the ledger read-only (or none, before the first start); `apply` appends
// `PolicyApplied` with its own writer, or through the daemon when the daemon holds the data dir.
import { existsSync } from "node:fs"
import { userInfo } from "node:os"
import { Args, Command, Options } from "@effect/cli"
import { NodeFileSystem } from "@effect/platform-node"
import { Data, Effect, Either, JSONSchema, Option } from "effect"
import { stringify } from "yaml"
import { applyPolicy, readPolicies, type ApplyOutcome } from "../../adapters/policy/policy-store.js"
import { formatDiff, lineDiff } from "../../adapters/policy/line-diff.js"
import { loadPolicyFile } from "../../adapters/policy/load-policy.js"
import { EventStore } from "../../adapters/store/event-store.js"
import { Ledger } from "../../adapters/ledger/ledger.js"
import { builtinPolicies } from "../../domain/policy/builtins.js"
import { PolicyDocument } from "../../domain/policy/policy-document.js"
import { contentHashOf, emptyPolicyState, planApply, type PolicyState } from "../../domain/policy/policy-state.js"
import { resolvePolicy, resolveDocument } from "../../domain/policy/resolve.js"
import { viaDaemon } from "../daemon-call.js"
import { ledgerPath, resolveDataDir } from "../data-dir.js"
import { dataDirOption, jsonOption } from "../options.js"
import { printJson, printTable, say } from "../output.js"
import { withReadOnlyStore, writerLayer } from "../stores.js"

class PolicyNotFound extends Data.TaggedError("PolicyNotFound")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

const nameArg = Args.text({ name: "name" }).pipe(Args.withDescription("a policy name (built-in or applied)"))
const fileArg = Args.file({ name: "file", exists: "yes" }).pipe(Args.withDescription("a policy YAML file"))
const versionOption = (name: string, what: string) => Options.integer(name).pipe(Options.withDescription(what), Options.optional)

/** The applied policies; none before the data dir has a ledger. */
const policyState = (dataDirFlag: Option.Option<string>) => {
  const dataDir = resolveDataDir(dataDirFlag)
  return existsSync(ledgerPath(dataDir))
    ? withReadOnlyStore(dataDir, (store) => readPolicies(store)).pipe(Effect.map((model) => model.state))
    : Effect.succeed(emptyPolicyState)
}

const short = (hash: string) => hash.slice(0, 12)

/** A document by name and optional version: applied (that version, else current) or built-in. */
const documentOf = (state: PolicyState, name: string, version: Option.Option<number>) => {
  const history = state[name]
  if (Option.isSome(version)) {
    const found = history?.versions.find((v) => v.version === version.value)
    return found === undefined
      ? Effect.fail(new PolicyNotFound({ reason: `policy ${name} has no version ${version.value}${history === undefined ? " (it was never applied)" : ` (versions 1-${history.current.version})`}` }))
      : Effect.succeed({ document: found.document, version: found.version as number | null, origin: "applied" as const })
  }
  if (history !== undefined) return Effect.succeed({ document: history.current.document, version: history.current.version as number | null, origin: "applied" as const })
  const builtin = builtinPolicies.get(name)
  if (builtin !== undefined) return Effect.succeed({ document: builtin, version: null, origin: "builtin" as const })
  const known = [...new Set([...builtinPolicies.keys(), ...Object.keys(state)])].sort()
  return Effect.fail(new PolicyNotFound({ reason: `no policy named '${name}'; known: ${known.join(", ")}` }))
}

const list = Command.make("list", { dataDir: dataDirOption, json: jsonOption }, (o) =>
  Effect.gen(function* () {
    const state = yield* policyState(o.dataDir)
    const rows = [
      ...[...builtinPolicies.values()].map((d) => ({ name: d.name, origin: "builtin", version: null as number | null, contentHash: contentHashOf(d), extends: d.extends ?? null, description: d.description, appliedAt: null as string | null })),
      ...Object.values(state).map(({ current: c }) => ({ name: c.name, origin: "applied", version: c.version, contentHash: c.contentHash, extends: c.document.extends ?? null, description: c.document.description, appliedAt: c.at }))
    ]
    if (o.json) return yield* printJson(rows)
    yield* printTable(["NAME", "ORIGIN", "VERSION", "HASH", "EXTENDS", "DESCRIPTION"], rows.map((r) => [r.name, r.origin, r.version === null ? "-" : String(r.version), short(r.contentHash), r.extends ?? "-", r.description]))
  })
).pipe(Command.withDescription("List the built-in and applied policies with their versions and content hashes."))

const show = Command.make(
  "show",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    version: versionOption("version", "show this applied version instead of the current one"),
    effective: Options.boolean("effective").pipe(Options.withDescription("show the policy merged over its 'extends' chain")),
    name: nameArg
  },
  (o) =>
    Effect.gen(function* () {
      const state = yield* policyState(o.dataDir)
      const found = yield* documentOf(state, o.name, o.version)
      const effective = Either.getOrUndefined(Option.isSome(o.version) ? resolveDocument(found.document, state) : resolvePolicy(o.name, state))
      const history = (state[o.name]?.versions ?? []).map((v) => ({ version: v.version, contentHash: v.contentHash, source: v.source, at: v.at, recordId: v.recordId }))
      if (o.json) {
        return yield* printJson({ name: o.name, origin: found.origin, version: found.version, contentHash: contentHashOf(found.document), document: found.document, effective: effective?.document ?? null, effectiveHash: effective?.contentHash ?? null, chain: effective?.chain ?? null, history })
      }
      const shown = o.effective && effective !== undefined ? effective.document : found.document
      const header = [
        `# ${o.name}: ${found.origin}${found.version === null ? "" : ` version ${found.version}`}, content hash ${contentHashOf(found.document)}`,
        ...(effective === undefined ? [] : [`# chain ${effective.chain.join(" → ")}, effective hash ${effective.contentHash}${o.effective ? " (shown merged)" : ""}`])
      ]
      yield* say([...header, stringify(shown).trimEnd()].join("\n"))
    })
).pipe(Command.withDescription("Print a policy as YAML (the applied version, or a built-in), with its hash and extends chain."))

const validate = Command.make("validate", { dataDir: dataDirOption, json: jsonOption, file: fileArg }, (o) =>
  Effect.gen(function* () {
    const state = yield* policyState(o.dataDir)
    const { document } = yield* loadPolicyFile(o.file, state).pipe(Effect.provide(NodeFileSystem.layer))
    const plan = planApply(state, document)
    const result = { file: o.file, valid: true, name: document.name, extends: document.extends ?? null, contentHash: contentHashOf(document), applied: plan._tag === "Unchanged" }
    if (o.json) return yield* printJson(result)
    yield* say(`${o.file}: valid policy ${document.name}${document.extends === undefined ? "" : ` (extends ${document.extends})`}, content hash ${short(result.contentHash)}${result.applied ? " — identical to the applied version" : ""}`)
  })
).pipe(Command.withDescription("Check a policy file: every key, type, limit and 'extends'; errors name file:line:column and field."))

const describeOutcome = (outcome: ApplyOutcome): string =>
  outcome._tag === "Unchanged"
    ? `policy ${outcome.current.name} unchanged: version ${outcome.current.version} already has content hash ${short(outcome.current.contentHash)} (nothing recorded)`
    : `policy ${outcome.name} applied as version ${outcome.version}${outcome.previousVersion === null ? "" : ` (was ${outcome.previousVersion})`}, content hash ${short(outcome.contentHash)}, record ${outcome.recordId}`

const apply = Command.make("apply", { dataDir: dataDirOption, json: jsonOption, file: fileArg }, (o) =>
  Effect.gen(function* () {
    const dataDir = resolveDataDir(o.dataDir)
    const state = yield* policyState(o.dataDir)
    const { document } = yield* loadPolicyFile(o.file, state).pipe(Effect.provide(NodeFileSystem.layer))
    const actor = { kind: "operator" as const, id: userInfo().username }
    const direct = Effect.gen(function* () {
      return yield* applyPolicy(yield* Ledger, yield* EventStore, document, o.file, actor)
    }).pipe(Effect.provide(writerLayer(dataDir)), Effect.scoped)
    const outcome: ApplyOutcome = yield* direct.pipe(
      Effect.catchTag("WriterBusy", () =>
        viaDaemon(o.dataDir, { _tag: "ApplyPolicy", document, source: o.file }, "applying policy").pipe(Effect.map((reply) => reply as ApplyOutcome))
      )
    )
    if (o.json) return yield* printJson(outcome)
    yield* say(describeOutcome(outcome))
  })
).pipe(Command.withDescription("Record a policy file in the ledger as a new version (PolicyApplied); an identical document is a no-op."))

const diff = Command.make(
  "diff",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    from: versionOption("from", "the older applied version (default: the current one)"),
    to: versionOption("to", "compare with this applied version instead of a file"),
    name: nameArg,
    file: fileArg.pipe(Args.optional)
  },
  (o) =>
    Effect.gen(function* () {
      const state = yield* policyState(o.dataDir)
      const before = yield* documentOf(state, o.name, o.from)
      const after = Option.isSome(o.file)
        ? { document: (yield* loadPolicyFile(o.file.value, state).pipe(Effect.provide(NodeFileSystem.layer))).document, label: o.file.value }
        : Option.isSome(o.to)
          ? { document: (yield* documentOf(state, o.name, o.to)).document, label: `${o.name} version ${o.to.value}` }
          : yield* new PolicyNotFound({ reason: "policy diff needs a FILE or --to VERSION to compare with" })
      const lines = lineDiff(stringify(before.document), stringify(after.document))
      const changed = lines.some((l) => l.op !== " ")
      const beforeLabel = `${o.name} ${before.version === null ? before.origin : `version ${before.version}`}`
      if (o.json) return yield* printJson({ from: beforeLabel, to: after.label, changed, fromHash: contentHashOf(before.document), toHash: contentHashOf(after.document), lines })
      yield* say(changed ? [`--- ${beforeLabel}`, `+++ ${after.label}`, formatDiff(lines)].join("\n") : `no difference between ${beforeLabel} and ${after.label}`)
    })
).pipe(Command.withDescription("Line diff of a policy's YAML: the applied (or built-in) version against a file, or two versions."))

const schema = Command.make("schema", { json: jsonOption }, () =>
  printJson(JSONSchema.make(PolicyDocument))
).pipe(Command.withDescription("Print the JSON Schema of the policy format (for editors); always JSON."))

export const policyCommand = Command.make("policy").pipe(
  Command.withDescription("Resource, access, network and command policies: list, show, validate, apply, diff, schema"),
  Command.withSubcommands([list, show, validate, apply, diff, schema])
)
