// A CLI session on its own data dir, runtime dir and config, for end-to-end tests through the real
// CLI and daemon (started on demand by the first verb): run verbs, read the ledger as stored, find
// and kill the daemon. `stopDaemons` (for afterAll) sends SIGTERM to every daemon a session started.
import { execFileSync } from "node:child_process"
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import Database from "better-sqlite3"
import { runCli } from "./cli.js"
import { tempDir } from "./ledger-fixture.js"

export type SessionEnv = Record<"HYDRAVISOR_DATA_DIR" | "HYDRAVISOR_RUNTIME_DIR" | "HYDRAVISOR_CONFIG", string>

const sessions: Array<SessionEnv> = []

export interface SessionOptions {
  /** Templates (file name → YAML) put in a templates dir the config names. */
  readonly templates?: Readonly<Record<string, string>>
  /** A shared images dir (e.g. the test image cache) linked in as `<data>/images`. */
  readonly images?: string
}

export const session = (options: SessionOptions = {}) => {
  const root = tempDir("hv-e2e-")
  const env: SessionEnv = { HYDRAVISOR_DATA_DIR: join(root, "data"), HYDRAVISOR_RUNTIME_DIR: join(root, "run"), HYDRAVISOR_CONFIG: join(root, "config.yaml") }
  sessions.push(env)
  if (options.templates !== undefined) {
    const dir = join(root, "templates")
    mkdirSync(dir)
    for (const [file, yaml] of Object.entries(options.templates)) writeFileSync(join(dir, file), yaml)
    writeFileSync(env.HYDRAVISOR_CONFIG, `environments:\n  templates_dir: ${JSON.stringify(dir)}\n`)
  }
  if (options.images !== undefined) {
    mkdirSync(env.HYDRAVISOR_DATA_DIR, { recursive: true, mode: 0o700 })
    symlinkSync(options.images, join(env.HYDRAVISOR_DATA_DIR, "images"))
  }
  const hv = (...args: Array<string>) => runCli(args, { env })
  /** Every stored record, in store order, as its JSON body. */
  const records = () => {
    const db = new Database(join(env.HYDRAVISOR_DATA_DIR, "ledger.db"), { readonly: true })
    try {
      return (db.prepare("SELECT body FROM records ORDER BY pos").pluck().all() as Array<string>).map((b) => JSON.parse(b))
    } finally {
      db.close()
    }
  }
  return { env, hv, records, root }
}

/** The pid of the session's daemon (started by a `list` if none runs). */
export const pidOfDaemon = async (env: SessionEnv): Promise<number> => {
  const r = await runCli(["list", "--json"], { env })
  if (r.code !== 0) throw new Error(`hydravisor list failed: ${r.stderr}`)
  return daemonPid(env)
}

const daemonPid = (env: SessionEnv): number =>
  Number(execFileSync("pgrep", ["-f", `serve --data-dir ${env.HYDRAVISOR_DATA_DIR}`]).toString().trim().split("\n")[0])

/** Waits until `pid` has exited (at most `ms`); true when it has. */
export const exited = async (pid: number, ms = 10_000): Promise<boolean> => {
  for (const started = Date.now(); Date.now() - started < ms; await new Promise((r) => setTimeout(r, 100))) {
    try {
      process.kill(pid, 0)
    } catch {
      return true
    }
  }
  return false
}

export const stopDaemons = async (): Promise<void> => {
  for (const env of sessions.splice(0)) {
    try {
      const pid = daemonPid(env)
      process.kill(pid, "SIGTERM")
      await exited(pid)
    } catch {
      // no daemon (pgrep found none) or already gone
    }
  }
}
