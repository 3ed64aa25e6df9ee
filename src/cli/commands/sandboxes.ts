// The sandbox verbs: launch, list, inspect, exec, pause, resume, stop, destroy. Each is one request
// to the daemon (started on demand); the daemon records every step in the ledger.
import { Args, Command, Options } from "@effect/cli"
import { Effect, Option } from "effect"
import { viaDaemon } from "../daemon-call.js"
import { ExitWith } from "../errors.js"
import { dataDirOption, jsonOption, sandboxArg } from "../options.js"
import { printJson, printTable, say } from "../output.js"

type View = Record<string, unknown>

const field = (v: View, ...path: ReadonlyArray<string>): string => {
  let cur: unknown = v
  for (const p of path) cur = typeof cur === "object" && cur !== null ? (cur as Record<string, unknown>)[p] : undefined
  return cur === undefined || cur === null ? "-" : typeof cur === "object" ? JSON.stringify(cur) : String(cur)
}


const launch = Command.make(
  "launch",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    template: Options.text("template").pipe(Options.withDescription("template name: python-dev, nodejs-sandbox, research-env, shared-dev, or one of yours")),
    name: Options.text("name").pipe(Options.withDescription("a name: lower-case letters, digits and dashes")),
    policy: Options.text("policy").pipe(Options.withDescription("policy to apply (default: the template's, else security.default_policy)"), Options.optional),
    networkIsolated: Options.boolean("network-isolated").pipe(Options.withDescription("no network at all (loopback only), whatever the template says")),
    cpu: Options.float("cpu").pipe(Options.withDescription("CPU cores (at most security.max_cpu_cores)"), Options.optional),
    memory: Options.integer("memory").pipe(Options.withDescription("memory in MB (at most security.max_memory_gb)"), Options.optional),
    agent: Options.text("agent").pipe(Options.withDescription("hand the sandbox to this agent"), Options.optional)
  },
  (o) =>
    Effect.gen(function* () {
      const result = (yield* viaDaemon(
        o.dataDir,
        {
          _tag: "Launch",
          template: o.template,
          name: o.name,
          ...(Option.isSome(o.policy) ? { policy: o.policy.value } : {}),
          ...(Option.isSome(o.cpu) ? { cpuCores: o.cpu.value } : {}),
          ...(Option.isSome(o.memory) ? { memoryMb: o.memory.value } : {}),
          ...(o.networkIsolated ? { networkIsolated: true } : {}),
          ...(Option.isSome(o.agent) ? { agent: o.agent.value } : {})
        },
        `launching ${o.name}`
      )) as View
      yield* o.json ? printJson(result) : say(`launched ${field(result, "name")} (${field(result, "id")}): ${field(result, "state")}, template ${field(result, "template")}, runner ${field(result, "runner")}`)
    })
).pipe(Command.withDescription("Launch a sandbox from a template. Every step is recorded in the ledger."))

const list = Command.make("list", { dataDir: dataDirOption, json: jsonOption }, (o) =>
  Effect.gen(function* () {
    const rows = (yield* viaDaemon(o.dataDir, { _tag: "List" }, "listing")) as ReadonlyArray<View>
    if (o.json) return yield* printJson(rows)
    if (rows.length === 0) return yield* say("no sandboxes")
    yield* printTable(
      ["NAME", "ID", "STATE", "TEMPLATE", "RUNNER", "CPU", "MEMORY MB", "NETWORK", "EXECS"],
      rows.map((r) => [field(r, "name"), field(r, "id"), field(r, "state"), field(r, "template"), field(r, "runner"), field(r, "resources", "cpu_cores"), field(r, "resources", "memory_mb"), field(r, "network", "mode"), field(r, "execCount")])
    )
  })
).pipe(Command.withDescription("List sandboxes and their states."))

const inspect = Command.make("inspect", { dataDir: dataDirOption, json: jsonOption, sandbox: sandboxArg }, (o) =>
  Effect.gen(function* () {
    const view = (yield* viaDaemon(o.dataDir, { _tag: "Inspect", sandbox: o.sandbox }, "inspecting")) as View
    yield* o.json ? printJson(view) : say(Object.entries(view).map(([k, v]) => `${k.padEnd(14)} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`).join("\n"))
  })
).pipe(Command.withDescription("Show one sandbox: state, limits, network, policy, handle."))

const exec = Command.make(
  "exec",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    cwd: Options.text("cwd").pipe(Options.withDescription("working directory (default /workspace)"), Options.optional),
    env: Options.keyValueMap("env").pipe(Options.withDescription("KEY=VALUE environment variables"), Options.optional),
    timeout: Options.integer("timeout").pipe(Options.withDescription("seconds before the command is killed"), Options.optional),
    stdin: Options.boolean("stdin").pipe(Options.withDescription("pass this command's standard input to the sandboxed command")),
    sandbox: sandboxArg,
    argv: Args.text({ name: "command" }).pipe(Args.repeated, Args.withDescription("the command and its arguments, after --"))
  },
  (o) =>
    Effect.gen(function* () {
      if (o.argv.length === 0) return yield* Effect.fail(new Error("no command given: hydravisor exec NAME -- COMMAND [ARGS…]"))
      const stdin = o.stdin ? yield* Effect.promise(readStdin) : undefined
      const result = (yield* viaDaemon(
        o.dataDir,
        {
          _tag: "Exec",
          sandbox: o.sandbox,
          argv: [o.argv[0]!, ...o.argv.slice(1)],
          ...(Option.isSome(o.cwd) ? { cwd: o.cwd.value } : {}),
          ...(Option.isSome(o.env) ? { env: Object.fromEntries(o.env.value) } : {}),
          ...(Option.isSome(o.timeout) ? { timeoutMs: o.timeout.value * 1000 } : {}),
          ...(stdin ? { stdinBase64: stdin.toString("base64") } : {})
        },
        `running in ${o.sandbox}`
      )) as View
      if (o.json) yield* printJson(result)
      else {
        process.stdout.write(Buffer.from(String(result["stdoutBase64"] ?? ""), "base64"))
        process.stderr.write(Buffer.from(String(result["stderrBase64"] ?? ""), "base64"))
        if (result["timedOut"] === true) process.stderr.write(`hydravisor: the command timed out and was killed\n`)
        if (result["oomKilled"] === true) process.stderr.write(`hydravisor: the command was killed for exceeding the memory limit\n`)
      }
      const code = typeof result["exitCode"] === "number" ? (result["exitCode"] as number) : 128 + 9
      if (code !== 0) return yield* Effect.fail(new ExitWith(code))
    })
).pipe(Command.withDescription("Run a command in a sandbox: hydravisor exec NAME -- COMMAND [ARGS…]. Exits with the command's exit code."))

const readStdin = () =>
  new Promise<Buffer>((resolve) => {
    const chunks: Array<Buffer> = []
    process.stdin.on("data", (c: Buffer) => chunks.push(c))
    process.stdin.on("end", () => resolve(Buffer.concat(chunks)))
  })

const simple = (verb: "Pause" | "Resume" | "Destroy", description: string) =>
  Command.make(verb.toLowerCase(), { dataDir: dataDirOption, json: jsonOption, sandbox: sandboxArg }, (o) =>
    Effect.gen(function* () {
      const view = (yield* viaDaemon(o.dataDir, { _tag: verb, sandbox: o.sandbox }, `${verb.toLowerCase()} ${o.sandbox}`)) as View
      yield* o.json ? printJson(view) : say(`${field(view, "name")}: ${field(view, "state")}`)
    })
  ).pipe(Command.withDescription(description))

const stop = Command.make(
  "stop",
  { dataDir: dataDirOption, json: jsonOption, reason: Options.text("reason").pipe(Options.optional), sandbox: sandboxArg },
  (o) =>
    Effect.gen(function* () {
      const view = (yield* viaDaemon(o.dataDir, { _tag: "Stop", sandbox: o.sandbox, ...(Option.isSome(o.reason) ? { reason: o.reason.value } : {}) }, `stopping ${o.sandbox}`)) as View
      yield* o.json ? printJson(view) : say(`${field(view, "name")}: ${field(view, "state")}`)
    })
).pipe(Command.withDescription("Stop a sandbox: every process in it is killed; the workspace stays."))

export const sandboxCommands = [
  launch,
  list,
  inspect,
  exec,
  simple("Pause", "Freeze every process of a sandbox."),
  simple("Resume", "Thaw a paused sandbox."),
  stop,
  simple("Destroy", "Remove a stopped sandbox and its workspace (its history stays in the ledger).")
] as const
