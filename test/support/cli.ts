// Runs the real `hydravisor` CLI (from the TypeScript sources) in a child process.
import { spawnSync, type SpawnSyncOptions } from "node:child_process"
import { resolve } from "node:path"

export const projectRoot = resolve(import.meta.dirname, "..", "..")

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export const runCli = (args: ReadonlyArray<string>, options: SpawnSyncOptions = {}): CliResult => {
  const r = spawnSync(process.execPath, ["--import", "tsx", resolve(projectRoot, "src/main.ts"), ...args], {
    encoding: "utf8",
    timeout: 120_000,
    cwd: projectRoot,
    ...options,
    env: { ...process.env, NO_COLOR: "1", ...(options.env ?? {}) }
  })
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) }
}
