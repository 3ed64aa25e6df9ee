// The real CLI and daemon for the MCP end-to-end tests: temp data/runtime/config dirs, the CLI in
// child processes, the ledger read straight from SQLite, and the daemon found through its socket.
import { spawn, type ChildProcess } from "node:child_process"
import { readFileSync } from "node:fs"
import { createConnection } from "node:net"
import { join, resolve } from "node:path"
import Database from "better-sqlite3"
import { Effect } from "effect"
import { verifyLedger } from "../../../../src/adapters/ledger/verify.js"
import { EventStore } from "../../../../src/adapters/store/event-store.js"
import { socketPath } from "../../../../src/adapters/daemon/paths.js"
import { projectRoot, runCli, type CliResult } from "../../../support/cli.js"
import { readOnlyStore, removeDir, tempDir } from "../../../support/ledger-fixture.js"
import { fromRunnerHandle } from "../../../../src/adapters/sandbox/mapping.js"
import { unsealData } from "../../../../src/domain/events/redactable.js"
import { layer as bwrapLayer } from "../../../../src/runners/bwrap/bwrap-runner.js"
import { Runner } from "../../../../src/runners/runner.js"

/** src/main.ts once src/cli/app.ts lists the mcp and agents verbs; until then the test entry adds them. */
export const hydravisorEntry = (): string =>
  resolve(projectRoot, "src/main.ts")

export const nodeArgs = (...args: ReadonlyArray<string>) => ["--import", "tsx", hydravisorEntry(), ...args]

export interface Session {
  readonly root: string
  readonly env: Record<string, string>
  readonly dataDir: string
  readonly hv: (...args: Array<string>) => Promise<CliResult>
  /** Every record in store order, as stored (sealed values sealed). */
  readonly records: () => Array<any>
  /** Every stored record body, as text. */
  readonly bodies: () => Array<string>
}

export const session = (): Session => {
  const root = tempDir("hv-mcp-e2e-")
  const env = { HYDRAVISOR_DATA_DIR: join(root, "data"), HYDRAVISOR_RUNTIME_DIR: join(root, "run"), HYDRAVISOR_CONFIG: join(root, "config.yaml") }
  const bodies = () => {
    const db = new Database(join(env.HYDRAVISOR_DATA_DIR, "ledger.db"), { readonly: true })
    try {
      return db.prepare("SELECT body FROM records ORDER BY pos").pluck().all() as Array<string>
    } finally {
      db.close()
    }
  }
  const hv = (...args: Array<string>): Promise<CliResult> =>
    hydravisorEntry().endsWith("src/main.ts")
      ? runCli(args, { env })
      : new Promise((done) => {
          const child = spawn(process.execPath, nodeArgs(...args), { cwd: projectRoot, env: { ...process.env, NO_COLOR: "1", ...env }, stdio: ["ignore", "pipe", "pipe"] })
          let stdout = ""
          let stderr = ""
          child.stdout.on("data", (c: Buffer) => (stdout += c.toString()))
          child.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
          child.on("close", (code) => done({ code, stdout, stderr }))
        })
  return { root, env, dataDir: env.HYDRAVISOR_DATA_DIR, hv, records: () => bodies().map((b) => JSON.parse(b)), bodies }
}

/** Registers an agent through the CLI and returns its token. */
export const addAgent = async (s: Session, id: string, ...flags: Array<string>): Promise<string> => {
  const r = await s.hv("agents", "add", id, "--json", ...flags)
  if (r.code !== 0) throw new Error(`agents add ${id}: ${r.stderr}`)
  return JSON.parse(r.stdout).token as string
}

/** The pid of the daemon serving `s`, asked over its socket; null when none answers. */
export const daemonPid = (s: Session): Promise<number | null> =>
  new Promise((done) => {
    const conn = createConnection(socketPath(s.dataDir, { ...process.env, ...s.env }))
    let buffer = ""
    conn.once("connect", () => conn.write(JSON.stringify({ id: 1, request: { _tag: "Ping" }, operator: "test" }) + "\n"))
    conn.on("data", (c: Buffer) => {
      buffer += c.toString()
      if (!buffer.includes("\n")) return
      conn.destroy()
      done((JSON.parse(buffer) as { result?: { pid?: number } }).result?.pid ?? null)
    })
    conn.once("error", () => done(null))
  })

export const waitForExit = async (pid: number, ms = 15_000) => {
  for (const until = Date.now() + ms; Date.now() < until; ) {
    try {
      process.kill(pid, 0)
    } catch {
      return true
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return false
}

export const stopDaemon = async (s: Session) => {
  const pid = await daemonPid(s)
  if (pid === null) return
  process.kill(pid, "SIGTERM")
  await waitForExit(pid)
}

/** `hydravisor mcp --port 0` in the foreground; resolves once it says where HTTP listens. */
export const startHttpDaemon = (s: Session, ...flags: Array<string>) =>
  new Promise<{ child: ChildProcess; url: string; log: () => string }>((done, fail) => {
    const child = spawn(process.execPath, nodeArgs("mcp", "--port", "0", ...flags), { cwd: projectRoot, env: { ...process.env, NO_COLOR: "1", ...s.env }, stdio: ["ignore", "ignore", "pipe"] })
    let log = ""
    const timer = setTimeout(() => fail(new Error(`the MCP daemon did not start: ${log}`)), 60_000)
    child.stderr!.on("data", (c: Buffer) => {
      log += c.toString()
      const match = /MCP over streamable HTTP at (\S+)/.exec(log)
      if (match) {
        clearTimeout(timer)
        done({ child, url: match[1]!, log: () => log })
      }
    })
    child.once("exit", (code) => fail(new Error(`the MCP daemon exited (${code}): ${log}`)))
  })

/** `audit verify --full` of the session's ledger, in this process (the store opened read-only, as the CLI does). */
export const verifyCopy = (s: Session) =>
  Effect.runPromise(Effect.flatMap(EventStore, (store) => verifyLedger(store, { mode: "full", workers: 0 })).pipe(Effect.provide(readOnlyStore(s.dataDir)), Effect.scoped))

/** Once its daemon is gone: removes, unrecorded, what is left of the session's sandboxes on the host, then its files. */
export const cleanUp = async (s: Session) => {
  const handles = new Map<string, unknown>()
  for (const r of s.records()) {
    if (r.type === "SandboxProvisioned" || r.type === "SandboxStarted") handles.set(r.stream, unsealData(r.data)["handle"])
    if (r.type === "SandboxDestroyed") handles.delete(r.stream)
  }
  await Effect.runPromise(
    Effect.gen(function* () {
      const runner = yield* Runner
      for (const value of handles.values()) {
        const handle = fromRunnerHandle(value as Record<string, unknown>)
        if (handle !== null) yield* runner.destroy(handle).pipe(Effect.ignore)
      }
    }).pipe(Effect.provide(bwrapLayer()), Effect.scoped)
  ).catch(() => undefined)
  removeDir(s.root)
}
