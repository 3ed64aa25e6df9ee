// Runs the real `hydravisor` CLI (from the TypeScript sources) in a child process. Asynchronous, so
// the test worker stays responsive while a slow verb runs.
import { spawn, type SpawnOptions } from "node:child_process"
import { resolve } from "node:path"

export const projectRoot = resolve(import.meta.dirname, "..", "..")

export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions extends SpawnOptions {
  readonly env?: NodeJS.ProcessEnv
  /** a command the CLI runs under, e.g. setpriv dropping capabilities */
  readonly wrapper?: ReadonlyArray<string>
}

export const runCli = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<CliResult> =>
  new Promise((done) => {
    const argv = [process.execPath, "--import", "tsx", resolve(projectRoot, "src/main.ts"), ...args]
    const [command, ...rest] = [...(options.wrapper ?? []), ...argv]
    const child = spawn(command!, rest, {
      cwd: projectRoot,
      ...options,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", ...(options.env ?? {}) }
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()))
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000)
    child.on("close", (code) => {
      clearTimeout(timer)
      done({ code, stdout, stderr })
    })
  })
