// Every MCP tool's input and output, defined once with effect/Schema: the inputs decode each call's
// arguments (tool-catalog.ts), and both become the JSON Schemas tools/list advertises. Inputs are
// strict, so an unknown field is refused, and bounded, so no argument is unboundedly large.
import { Schema } from "effect"

/** An optional field that, when present, holds a value (never an explicit `undefined`). */
const opt = <S extends Schema.Schema.Any>(schema: S) => Schema.optionalWith(schema, { exact: true })
const described = <A, I>(schema: Schema.Schema<A, I>, description: string): Schema.Schema<A, I> => schema.annotations({ description })
const integer = (min: number, max: number) => Schema.Number.pipe(Schema.int(), Schema.between(min, max))
const NO_NUL = /^[^\u0000]*$/
const noNulString = (maxLength: number, minLength = 0): Schema.Schema<string> =>
  (minLength > 0 ? Schema.String.pipe(Schema.minLength(minLength)) : Schema.String).pipe(
    Schema.maxLength(maxLength),
    Schema.pattern(NO_NUL, { message: () => "must not contain a NUL byte", description: "no NUL byte" })
  )
const lowerName = Schema.String.pipe(Schema.pattern(/^[a-z0-9][a-z0-9-]{0,62}$/))

const environment = described(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)), "the environment's id or name")
const workspacePath = described(Schema.String.pipe(Schema.maxLength(4096)), "a path relative to /workspace, or absolute under /workspace")
const sha256 = described(Schema.String, "lower-case hex SHA-256")
const encoding = Schema.Literal("utf8", "base64")

export const MAX_FILE_BYTES = 8 * 1024 * 1024

const limits = Schema.Struct({
  cpu_cores: Schema.Number,
  memory_mb: Schema.Number,
  pids: Schema.Number,
  disk_gb: opt(Schema.Number),
  file_handles: opt(Schema.Number.pipe(Schema.int())),
  network_mbps: opt(described(Schema.Number, "megabits per second each way through the egress proxy"))
})
const network = Schema.Struct({
  mode: Schema.Literal("none", "allowlist", "open"),
  allowlist: opt(Schema.Array(Schema.Struct({ host: Schema.String, port: opt(Schema.Number) })))
})
const constraints = Schema.Struct({
  limits,
  network,
  policy: Schema.String,
  expires_at: described(Schema.NullOr(Schema.String), "RFC 3339; the environment is stopped then"),
  workspace: Schema.Literal("/workspace")
})
const environmentSummary = Schema.Struct({ id: Schema.String, name: Schema.String, state: Schema.String, template: Schema.String, created_at: Schema.NullOr(Schema.String) })
const actor = Schema.Struct({ kind: Schema.String, id: Schema.String })
const auditEvent = Schema.Struct({
  seq: Schema.Number,
  id: Schema.String,
  at: Schema.String,
  stream: Schema.String,
  type: Schema.String,
  actor,
  correlation: Schema.NullOr(Schema.String),
  causation: Schema.NullOr(Schema.String),
  data: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})
const fileChange = Schema.Struct({ path: Schema.String, kind: Schema.Literal("file", "symlink"), sha256, bytes: Schema.Number })
const argv = described(
  Schema.Array(noNulString(65536)).pipe(
    Schema.filter((argv) => argv[0] === undefined || (argv[0] !== "" && !argv[0].includes("=")), { message: () => "argv[0] must name a program (not empty, no '=')" }),
    Schema.minItems(1),
    Schema.maxItems(1024)
  ),
  "program and arguments; the program is looked up on the sandbox's PATH"
)

export const tools = {
  request_environment: {
    title: "Request an environment",
    description: "Launch a new isolated sandbox from a template. Returns its id and the constraints it runs under.",
    input: Schema.Struct({
      template: described(lowerName, "template name, e.g. python-dev, nodejs-sandbox, research-env"),
      name: described(lowerName, "a name: lower-case letters, digits and '-'"),
      policy: opt(described(Schema.String.pipe(Schema.pattern(/^[a-z0-9][a-z0-9_-]{0,62}$/)), "policy; an agent bound to a policy may only ask for that one"))
    }),
    output: Schema.Struct({ id: Schema.String, name: Schema.String, state: Schema.String, constraints })
  },
  list_environments: {
    title: "List my environments",
    description: "The environments this agent requested or was given; released ones only when asked.",
    input: Schema.Struct({ include_released: opt(Schema.Boolean) }),
    output: Schema.Struct({ environments: Schema.Array(environmentSummary) })
  },
  describe_environment: {
    title: "Describe an environment",
    description: "State, resource limits, network mode, policy and expiry of one of my environments.",
    input: Schema.Struct({ environment }),
    output: Schema.Struct({
      ...environmentSummary.fields,
      runner: Schema.String,
      constraints,
      exec_count: Schema.Number,
      running_execs: Schema.Number,
      stop_reason: Schema.NullOr(Schema.String),
      failure: Schema.NullOr(Schema.String)
    })
  },
  exec: {
    title: "Run a command",
    description: "Run a program (argv, no shell unless you call one) in the environment; returns exit code, output and duration.",
    input: Schema.Struct({
      environment,
      argv,
      cwd: opt(described(noNulString(4096, 1), "working directory, relative to /workspace or absolute (default /workspace)")),
      timeout_seconds: opt(described(Schema.Number.pipe(Schema.positive(), Schema.lessThanOrEqualTo(86400)), "the command's whole process tree is killed after this (default 300)")),
      stdin: opt(described(Schema.String.pipe(Schema.maxLength(1024 * 1024)), "text given on standard input"))
    }),
    output: Schema.Struct({
      exit_code: Schema.NullOr(Schema.Number),
      signal: Schema.NullOr(Schema.String),
      stdout: Schema.String,
      stderr: Schema.String,
      stdout_truncated: Schema.Boolean,
      stderr_truncated: Schema.Boolean,
      timed_out: Schema.Boolean,
      oom_killed: Schema.Boolean,
      duration_ms: Schema.Number
    })
  },
  read_file: {
    title: "Read a file",
    description: "Read a file of the environment's workspace.",
    input: Schema.Struct({
      environment,
      path: workspacePath,
      encoding: opt(described(encoding, "utf8 (default; falls back to base64 for binary content) or base64")),
      max_bytes: opt(described(integer(1, MAX_FILE_BYTES), "at most this many bytes (default 1 MiB)"))
    }),
    output: Schema.Struct({ path: Schema.String, size: Schema.Number, content: Schema.String, encoding, truncated: Schema.Boolean, sha256: Schema.NullOr(sha256) })
  },
  write_file: {
    title: "Write a file",
    description: "Create or replace a file in the environment's workspace; recorded with the content's hash.",
    input: Schema.Struct({
      environment,
      path: workspacePath,
      content: Schema.String.pipe(Schema.maxLength(Math.ceil((MAX_FILE_BYTES * 4) / 3) + 4)),
      encoding: opt(encoding),
      create_parents: opt(described(Schema.Boolean, "create missing directories (default true)"))
    }),
    output: Schema.Struct({ path: Schema.String, bytes: Schema.Number, sha256, created: Schema.Boolean })
  },
  list_files: {
    title: "List files",
    description: "List a directory of the environment's workspace (symlinks are listed, not followed).",
    input: Schema.Struct({
      environment,
      path: opt(described(workspacePath, "directory (default: the workspace)")),
      recursive: opt(Schema.Boolean),
      max_entries: opt(described(integer(1, 10000), "default 1000"))
    }),
    output: Schema.Struct({
      path: Schema.String,
      entries: Schema.Array(Schema.Struct({ path: Schema.String, type: Schema.Literal("file", "directory", "symlink", "other"), size: Schema.Number })),
      truncated: Schema.Boolean
    })
  },
  snapshot: {
    title: "Snapshot the workspace",
    description: "Copy the environment's workspace so that it can be rolled back to later.",
    input: Schema.Struct({ environment }),
    output: Schema.Struct({ snapshot_id: Schema.String, content_hash: sha256, created_at: Schema.String })
  },
  rollback: {
    title: "Roll back the workspace",
    description: "Replace the environment's workspace with an earlier snapshot of it.",
    input: Schema.Struct({ environment, snapshot_id: Schema.String.pipe(Schema.pattern(/^snap-[0-9a-f]{12}$/)) }),
    output: Schema.Struct({ snapshot_id: Schema.String, restored: Schema.Literal(true) })
  },
  release_environment: {
    title: "Release an environment",
    description: "Stop and destroy the environment; its workspace is deleted, its history stays in the ledger.",
    input: Schema.Struct({ environment }),
    output: Schema.Struct({ id: Schema.String, name: Schema.String, state: Schema.String })
  },
  get_audit_trail: {
    title: "Audit trail",
    description: "The ledger events of one of my environments (lifecycle, commands, my tool calls), oldest first.",
    input: Schema.Struct({
      environment,
      limit: opt(described(integer(1, 5000), "the most recent N events (default 500)")),
      types: opt(described(Schema.Array(Schema.String.pipe(Schema.pattern(/^[A-Z][A-Za-z0-9]{1,80}$/))).pipe(Schema.maxItems(50)), "only these event types"))
    }),
    output: Schema.Struct({ environment: Schema.String, events: Schema.Array(auditEvent), truncated: Schema.Boolean })
  },
  environment_diff: {
    title: "Workspace changes",
    description: "Files added, changed and removed in the workspace since the environment was launched, with hashes; unified diffs for small text files.",
    input: Schema.Struct({ environment, include_diffs: opt(described(Schema.Boolean, "default true")) }),
    output: Schema.Struct({
      since: Schema.String,
      added: Schema.Array(Schema.Struct({ ...fileChange.fields, diff: opt(Schema.String) })),
      changed: Schema.Array(Schema.Struct({ path: Schema.String, before: fileChange, after: fileChange, diff: opt(Schema.String) })),
      removed: Schema.Array(fileChange),
      truncated: Schema.Boolean
    })
  },
  environment_log: {
    title: "Command log",
    description: "Commands run in the environment, from the ledger: argv, exit code, duration, who ran them.",
    input: Schema.Struct({ environment, limit: opt(described(integer(1, 5000), "the most recent N commands (default 500)")) }),
    output: Schema.Struct({
      commands: Schema.Array(
        Schema.Struct({
          exec_id: Schema.String,
          started_at: Schema.String,
          argv: Schema.NullOr(Schema.Array(Schema.String)),
          cwd: Schema.NullOr(Schema.String),
          status: Schema.Literal("running", "finished", "failed"),
          exit_code: Schema.NullOr(Schema.Number),
          signal: Schema.NullOr(Schema.String),
          duration_ms: Schema.NullOr(Schema.Number),
          timed_out: Schema.Boolean,
          actor
        })
      ),
      truncated: Schema.Boolean
    })
  }
} as const

export type ToolName = keyof typeof tools
export type ToolInput<T extends ToolName> = Schema.Schema.Type<(typeof tools)[T]["input"]>
export type ToolOutput<T extends ToolName> = Schema.Schema.Type<(typeof tools)[T]["output"]>
export const isToolName = (name: string): name is ToolName => Object.hasOwn(tools, name)
