// A small scripted agent: connects to Hydravisor over MCP, gets an environment, writes and runs code
// in it, tries what its policy denies (programs the policy blocks, run directly and inside a shell
// string; a path outside the workspace; another environment guessed by id; a network connection in
// network mode none), reads back its own audit trail, releases the environment and prints a summary.
// Every one of these calls ends up in the signed ledger, the refused ones too; the monitors record
// what ran in the sandbox, what it wrote and where it tried to connect.
//
//   hydravisor agents add demo-agent                         # prints the token
//   export HYDRAVISOR_TOKEN=hv_…
//   node --import tsx examples/scripted-agent.ts --agent demo-agent                       # stdio
//   node --import tsx examples/scripted-agent.ts --http http://127.0.0.1:3000/mcp         # HTTP
//
// Over stdio it starts `node --import tsx src/main.ts mcp --stdio --agent A` (the daemon is started on
// demand); `--server-command "…"` runs another command instead (e.g. `npx hydravisor`).
import { resolve } from "node:path"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"

const option = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const token = process.env["HYDRAVISOR_TOKEN"]
if (token === undefined || token === "") {
  console.error("set HYDRAVISOR_TOKEN to the token `hydravisor agents add <id>` printed")
  process.exit(2)
}
const agent = option("agent") ?? "demo-agent"
const http = option("http")
const serverCommand = (option("server-command") ?? `${process.execPath} --import tsx ${resolve(import.meta.dirname, "..", "src", "main.ts")}`).split(" ")

const transport = http
  ? new StreamableHTTPClientTransport(new URL(http), { requestInit: { headers: { Authorization: `Bearer ${token}` } } })
  : new StdioClientTransport({
      command: serverCommand[0]!,
      args: [...serverCommand.slice(1), "mcp", "--stdio", "--agent", agent],
      env: { ...(process.env as Record<string, string>), HYDRAVISOR_TOKEN: token }
    })

const client = new Client({ name: "scripted-agent", version: "1.0.0" })
await client.connect(transport)

interface Step {
  readonly step: string
  readonly outcome: "ok" | "refused" | "failed"
  readonly detail: string
}
const steps: Array<Step> = []

/** Calls a tool; a tool error is an answer too (isError), so it is returned, not thrown. */
const use = async (step: string, tool: string, args: Record<string, unknown>) => {
  const result = await client.callTool({ name: tool, arguments: args })
  const text = (result.content as Array<{ type: string; text?: string }>).find((c) => c.type === "text")?.text ?? ""
  const value = result.structuredContent as Record<string, any> | undefined
  return { step, ok: result.isError !== true, text, value: value ?? {} }
}

const record = (step: string, outcome: Step["outcome"], detail: string) => {
  steps.push({ step, outcome, detail })
  console.error(`${outcome.padEnd(8)} ${step}: ${detail}`)
}

const name = `demo-${Math.random().toString(16).slice(2, 8)}`
const env = await use("request an environment", "request_environment", { template: "research-env", name })
if (!env.ok) {
  console.error(`could not get an environment: ${env.text}`)
  process.exit(1)
}
record(env.step, "ok", `${env.value["id"]} (${env.value["state"]}, network ${env.value["constraints"]?.network?.mode}, policy ${env.value["constraints"]?.policy})`)
const id = env.value["id"] as string

const program = ["def fib(n):", "    a, b = 0, 1", "    for _ in range(n):", "        a, b = b, a + b", "    return a", "", "print([fib(i) for i in range(12)])", ""].join("\n")
const written = await use("write fib.py", "write_file", { environment: id, path: "fib.py", content: program })
record(written.step, written.ok ? "ok" : "failed", written.ok ? `sha256 ${String(written.value["sha256"]).slice(0, 16)}…` : written.text)

const ran = await use("run it", "exec", { environment: id, argv: ["python3", "fib.py"] })
record(ran.step, ran.ok && ran.value["exit_code"] === 0 ? "ok" : "failed", ran.ok ? `exit ${ran.value["exit_code"]}: ${String(ran.value["stdout"]).trim()}` : ran.text)

// The default policy (restricted) blocks host-level programs: the exec is refused before it runs.
for (const [step, argv] of [
  ["run sudo (blocked by the policy)", ["sudo", "true"]],
  ["run mount inside a shell string (blocked by the policy)", ["sh", "-c", "echo mounting && mount -t tmpfs none /mnt"]]
] as const) {
  const blocked = await use(step, "exec", { environment: id, argv: [...argv] })
  record(blocked.step, blocked.ok ? "failed" : "refused", blocked.ok ? `it ran (exit ${blocked.value["exit_code"]})!` : blocked.text)
}

const escape = await use("read /etc/shadow through ../", "read_file", { environment: id, path: "../../../../etc/shadow" })
record(escape.step, escape.ok ? "failed" : "refused", escape.ok ? "read outside the workspace!" : escape.text)

const guessed = await use("describe a guessed environment id", "describe_environment", { environment: "0123456789abcdef" })
record(guessed.step, guessed.ok ? "failed" : "refused", guessed.ok ? "saw an environment that is not ours!" : guessed.text)

// Mode none: the sandbox has only loopback; the name lookup goes to the DNS filter, which refuses it
// and records a denied ConnectionAttempted.
const network = await use("open a connection to pypi.org:443", "exec", {
  environment: id,
  argv: ["python3", "-c", "import socket; socket.create_connection(('pypi.org', 443), timeout=3)"],
  timeout_seconds: 10
})
const connected = network.ok && network.value["exit_code"] === 0
record(network.step, connected ? "failed" : "refused", connected ? "the connection went through!" : `exit ${network.value["exit_code"]}: ${String(network.value["stderr"] ?? network.text).trim().split("\n").pop()}`)

const trail = await use("read my audit trail", "get_audit_trail", { environment: id })
const types = (trail.value["events"] ?? []).map((e: { type: string }) => e.type) as Array<string>
record(trail.step, trail.ok ? "ok" : "failed", `${types.length} events: ${[...new Set(types)].join(", ")}`)

const released = await use("release the environment", "release_environment", { environment: id })
record(released.step, released.ok ? "ok" : "failed", released.ok ? String(released.value["state"]) : released.text)

await client.close()
const summary = {
  agent,
  transport: http ? "http" : "stdio",
  environment: id,
  steps,
  // What the policy denies must be refused; everything else must succeed.
  as_expected: steps.every((s) => (/blocked|guessed|\.\.\/|connection/.test(s.step) ? s.outcome === "refused" : s.outcome === "ok"))
}
console.log(JSON.stringify(summary, null, 2))
process.exit(summary.as_expected ? 0 : 1)
