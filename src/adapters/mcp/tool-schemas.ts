// Every MCP tool's input and output, defined once with zod (the SDK's schema language): inputs are
// strict, so an unknown field is refused, and bounded, so no argument is unboundedly large.
import { z } from "zod"

const noNul = /^[^\u0000]*$/
const environment = z.string().min(1).max(200).describe("the environment's id or name")
const workspacePath = z.string().max(4096).describe("a path relative to /workspace, or absolute under /workspace")
const sha256 = z.string().describe("lower-case hex SHA-256")

export const MAX_FILE_BYTES = 8 * 1024 * 1024

const limits = z.object({
  cpu_cores: z.number(),
  memory_mb: z.number(),
  pids: z.number(),
  disk_gb: z.number().optional(),
  file_handles: z.number().int().optional()
})
const network = z.object({ mode: z.enum(["none", "allowlist", "open"]), allowlist: z.array(z.object({ host: z.string(), port: z.number().optional() })).optional() })
const constraints = z.object({
  limits,
  network,
  policy: z.string(),
  expires_at: z.string().nullable().describe("RFC 3339; the environment is stopped then"),
  workspace: z.literal("/workspace")
})
const environmentSummary = z.object({ id: z.string(), name: z.string(), state: z.string(), template: z.string(), created_at: z.string().nullable() })
const auditEvent = z.object({
  seq: z.number(),
  id: z.string(),
  at: z.string(),
  stream: z.string(),
  type: z.string(),
  actor: z.object({ kind: z.string(), id: z.string() }),
  correlation: z.string().nullable(),
  causation: z.string().nullable(),
  data: z.record(z.unknown())
})
const fileChange = z.object({ path: z.string(), kind: z.enum(["file", "symlink"]), sha256, bytes: z.number() })

export const tools = {
  request_environment: {
    title: "Request an environment",
    description: "Launch a new isolated sandbox from a template. Returns its id and the constraints it runs under.",
    input: z
      .object({
        template: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).describe("template name, e.g. python-dev, nodejs-sandbox, research-env"),
        name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).describe("a name: lower-case letters, digits and '-'"),
        policy: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/).optional().describe("policy; an agent bound to a policy may only ask for that one")
      })
      .strict(),
    output: z.object({ id: z.string(), name: z.string(), state: z.string(), constraints })
  },
  list_environments: {
    title: "List my environments",
    description: "The environments this agent requested or was given; released ones only when asked.",
    input: z.object({ include_released: z.boolean().optional() }).strict(),
    output: z.object({ environments: z.array(environmentSummary) })
  },
  describe_environment: {
    title: "Describe an environment",
    description: "State, resource limits, network mode, policy and expiry of one of my environments.",
    input: z.object({ environment }).strict(),
    output: environmentSummary.extend({
      runner: z.string(),
      constraints,
      exec_count: z.number(),
      running_execs: z.number(),
      stop_reason: z.string().nullable(),
      failure: z.string().nullable()
    })
  },
  exec: {
    title: "Run a command",
    description: "Run a program (argv, no shell unless you call one) in the environment; returns exit code, output and duration.",
    input: z
      .object({
        environment,
        argv: z
          .array(z.string().max(65536).regex(noNul, "must not contain a NUL byte"))
          .min(1)
          .max(1024)
          .refine((argv) => argv[0] === undefined || (argv[0] !== "" && !argv[0].includes("=")), "argv[0] must name a program (not empty, no '=')")
          .describe("program and arguments; the program is looked up on the sandbox's PATH"),
        cwd: z.string().min(1).max(4096).regex(noNul, "must not contain a NUL byte").optional().describe("working directory, relative to /workspace or absolute (default /workspace)"),
        timeout_seconds: z.number().positive().max(86400).optional().describe("the command's whole process tree is killed after this (default 300)"),
        stdin: z.string().max(1024 * 1024).optional().describe("text given on standard input")
      })
      .strict(),
    output: z.object({
      exit_code: z.number().nullable(),
      signal: z.string().nullable(),
      stdout: z.string(),
      stderr: z.string(),
      stdout_truncated: z.boolean(),
      stderr_truncated: z.boolean(),
      timed_out: z.boolean(),
      oom_killed: z.boolean(),
      duration_ms: z.number()
    })
  },
  read_file: {
    title: "Read a file",
    description: "Read a file of the environment's workspace.",
    input: z
      .object({
        environment,
        path: workspacePath,
        encoding: z.enum(["utf8", "base64"]).optional().describe("utf8 (default; falls back to base64 for binary content) or base64"),
        max_bytes: z.number().int().min(1).max(MAX_FILE_BYTES).optional().describe("at most this many bytes (default 1 MiB)")
      })
      .strict(),
    output: z.object({ path: z.string(), size: z.number(), content: z.string(), encoding: z.enum(["utf8", "base64"]), truncated: z.boolean(), sha256: sha256.nullable() })
  },
  write_file: {
    title: "Write a file",
    description: "Create or replace a file in the environment's workspace; recorded with the content's hash.",
    input: z
      .object({
        environment,
        path: workspacePath,
        content: z.string().max(Math.ceil((MAX_FILE_BYTES * 4) / 3) + 4),
        encoding: z.enum(["utf8", "base64"]).optional(),
        create_parents: z.boolean().optional().describe("create missing directories (default true)")
      })
      .strict(),
    output: z.object({ path: z.string(), bytes: z.number(), sha256, created: z.boolean() })
  },
  list_files: {
    title: "List files",
    description: "List a directory of the environment's workspace (symlinks are listed, not followed).",
    input: z
      .object({
        environment,
        path: workspacePath.optional().describe("directory (default: the workspace)"),
        recursive: z.boolean().optional(),
        max_entries: z.number().int().min(1).max(10000).optional().describe("default 1000")
      })
      .strict(),
    output: z.object({
      path: z.string(),
      entries: z.array(z.object({ path: z.string(), type: z.enum(["file", "directory", "symlink", "other"]), size: z.number() })),
      truncated: z.boolean()
    })
  },
  snapshot: {
    title: "Snapshot the workspace",
    description: "Copy the environment's workspace so that it can be rolled back to later.",
    input: z.object({ environment }).strict(),
    output: z.object({ snapshot_id: z.string(), content_hash: sha256, created_at: z.string() })
  },
  rollback: {
    title: "Roll back the workspace",
    description: "Replace the environment's workspace with an earlier snapshot of it.",
    input: z.object({ environment, snapshot_id: z.string().regex(/^snap-[0-9a-f]{12}$/) }).strict(),
    output: z.object({ snapshot_id: z.string(), restored: z.literal(true) })
  },
  release_environment: {
    title: "Release an environment",
    description: "Stop and destroy the environment; its workspace is deleted, its history stays in the ledger.",
    input: z.object({ environment }).strict(),
    output: z.object({ id: z.string(), name: z.string(), state: z.string() })
  },
  get_audit_trail: {
    title: "Audit trail",
    description: "The ledger events of one of my environments (lifecycle, commands, my tool calls), oldest first.",
    input: z
      .object({
        environment,
        limit: z.number().int().min(1).max(5000).optional().describe("the most recent N events (default 500)"),
        types: z.array(z.string().regex(/^[A-Z][A-Za-z0-9]{1,80}$/)).max(50).optional().describe("only these event types")
      })
      .strict(),
    output: z.object({ environment: z.string(), events: z.array(auditEvent), truncated: z.boolean() })
  },
  environment_diff: {
    title: "Workspace changes",
    description: "Files added, changed and removed in the workspace since the environment was launched, with hashes; unified diffs for small text files.",
    input: z.object({ environment, include_diffs: z.boolean().optional().describe("default true") }).strict(),
    output: z.object({
      since: z.string(),
      added: z.array(fileChange.extend({ diff: z.string().optional() })),
      changed: z.array(z.object({ path: z.string(), before: fileChange, after: fileChange, diff: z.string().optional() })),
      removed: z.array(fileChange),
      truncated: z.boolean()
    })
  },
  environment_log: {
    title: "Command log",
    description: "Commands run in the environment, from the ledger: argv, exit code, duration, who ran them.",
    input: z.object({ environment, limit: z.number().int().min(1).max(5000).optional().describe("the most recent N commands (default 500)") }).strict(),
    output: z.object({
      commands: z.array(
        z.object({
          exec_id: z.string(),
          started_at: z.string(),
          argv: z.array(z.string()).nullable(),
          cwd: z.string().nullable(),
          status: z.enum(["running", "finished", "failed"]),
          exit_code: z.number().nullable(),
          signal: z.string().nullable(),
          duration_ms: z.number().nullable(),
          timed_out: z.boolean(),
          actor: z.object({ kind: z.string(), id: z.string() })
        })
      ),
      truncated: z.boolean()
    })
  }
} as const

export type ToolName = keyof typeof tools
export type ToolInput<T extends ToolName> = z.infer<(typeof tools)[T]["input"]>
export type ToolOutput<T extends ToolName> = z.infer<(typeof tools)[T]["output"]>
