// Where the daemon for a data dir listens: a socket under the user's runtime dir, named after the
// data dir, so that several data dirs can each have their own daemon.
import { createHash } from "node:crypto"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const runtimeDir = (env: NodeJS.ProcessEnv = process.env): string =>
  env["HYDRAVISOR_RUNTIME_DIR"] ?? (env["XDG_RUNTIME_DIR"] ? join(env["XDG_RUNTIME_DIR"], "hydravisor") : join(tmpdir(), `hydravisor-${process.getuid?.() ?? 0}`))

export const socketPath = (dataDir: string, env: NodeJS.ProcessEnv = process.env): string =>
  join(runtimeDir(env), `${createHash("sha256").update(dataDir).digest("hex").slice(0, 16)}.sock`)

export const daemonLog = (dataDir: string) => join(dataDir, "daemon.log")
