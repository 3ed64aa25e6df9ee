// A daemon for the MCP benchmarks: `hydravisor mcp --port 0` started from a checkout (`root`) in its
// own temporary data dir, with one registered agent, and SDK clients connected to it over streamable
// HTTP. Used by bench/mcp.ts and bench/_mcp-side-by-side.ts.
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Either } from "effect"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { hashToken, newToken, updateRegistry } from "../src/adapters/agents/agent-registry.js"
import { register } from "../src/domain/agents/agent.js"

export const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return +(s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0).toFixed(2)
}

/** Newest modification time under `dir` (0 when it does not exist). */
const newest = (dir: string): number =>
  !existsSync(dir) ? 0 : readdirSync(dir, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs), 0)

/** The checkout's dist/ rebuilt when its src/ is newer (the daemon runs as installed: bin → dist/). */
export const ensureBuilt = (root: string) => {
  if (newest(join(root, "dist/src")) >= newest(join(root, "src"))) return
  process.stderr.write(`bench: ${root}/dist is older than its src/, building it first (npm run build)\n`)
  const built = spawnSync("npm", ["run", "build"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] })
  if (built.status !== 0) throw new Error(`npm run build failed in ${root}; run it and look at its errors`)
}

export interface BenchDaemon {
  readonly dataDir: string
  readonly child: ChildProcess
  readonly connect: () => Promise<Client>
  /** SIGTERM, wait for the exit; the data dir stays until `remove`. */
  readonly stop: () => Promise<void>
  readonly remove: () => void
}

/** Starts the daemon of the checkout at `root` (`fromSource`: src/main.ts under tsx instead of dist/). */
export const startDaemon = async (root: string, options: { readonly fromSource?: boolean } = {}): Promise<BenchDaemon> => {
  const dir = mkdtempSync(join(tmpdir(), "hv-bench-mcp-"))
  const env = { ...process.env, HYDRAVISOR_DATA_DIR: join(dir, "data"), HYDRAVISOR_RUNTIME_DIR: join(dir, "run"), HYDRAVISOR_CONFIG: join(dir, "config.yaml") }
  const token = newToken()
  const registered = updateRegistry(env.HYDRAVISOR_DATA_DIR, (r) =>
    register(r, { id: "bench", tokenSha256: hashToken(token), policy: null, createdAt: new Date().toISOString(), createdBy: "bench", expiresAt: null, revokedAt: null })
  )
  if (Either.isLeft(registered)) throw new Error(String(registered.left))
  const entry = options.fromSource === true ? ["--import", "tsx", join(root, "src/main.ts")] : [join(root, "bin/hydravisor.js")]
  const child = spawn(process.execPath, [...entry, "mcp", "--port", "0"], { cwd: root, env, stdio: ["ignore", "ignore", "pipe"] })
  const url = await new Promise<string>((done, fail) => {
    let log = ""
    child.stderr!.on("data", (c: Buffer) => {
      log += c.toString()
      const match = /MCP over streamable HTTP at (\S+)/.exec(log)
      if (match) done(match[1]!)
    })
    child.once("exit", (code) => fail(new Error(`the daemon of ${root} exited (${code}): ${log}`)))
  })
  return {
    dataDir: env.HYDRAVISOR_DATA_DIR,
    child,
    connect: async () => {
      const client = new Client({ name: "bench", version: "1" })
      await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }))
      return client
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill("SIGTERM")
      await new Promise((r) => child.once("exit", r))
    },
    remove: () => rmSync(dir, { recursive: true, force: true })
  }
}

/** A tool call that must succeed; its structured result. */
export const call = async (client: Client, name: string, args: Record<string, unknown>) => {
  const result = await client.callTool({ name, arguments: args })
  if (result.isError === true) throw new Error(`${name}: ${JSON.stringify(result.content)}`)
  return result.structuredContent as Record<string, any>
}

/** One timed call: its round trip, and the process's own time when the tool reports one (`duration_ms`). */
export const timedCall = async (client: Client, name: string, args: Record<string, unknown>) => {
  const t = performance.now()
  const out = await call(client, name, args)
  const rtt = performance.now() - t
  const runner = typeof out["duration_ms"] === "number" ? out["duration_ms"] : 0
  return { rtt, runner, overhead: rtt - runner }
}
