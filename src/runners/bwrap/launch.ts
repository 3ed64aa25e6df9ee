// Brings one sandbox up: the launcher joins the cgroups and execs bwrap (options through --args),
// bwrap reports the sandbox pid on --info-fd and waits on --userns-block-fd while we write the user
// namespace maps, and the sandbox's init prints "ready" once every mount is in place.
import { Effect } from "effect"
import { spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import type { Readable, Writable } from "node:stream"
import { describeCause, LaunchFailed } from "../errors.js"
import { ARGS_FD, HOST_ENV, INFO_FD, parseInfo, USERNS_BLOCK_FD } from "./mapping.js"

export interface LaunchRequest {
  readonly id: string
  /** Arguments for the host's /bin/sh: the launcher script, its cgroup files, then bwrap's argv. */
  readonly launcherArgs: ReadonlyArray<string>
  /** bwrap's options, NUL-terminated, written to ARGS_FD. */
  readonly argsData: string
  readonly uidMap: string
  readonly gidMap: string
  readonly timeoutMs: number
}

export interface Launched {
  /** The bwrap process (the launcher exec'd into it); it lives as long as the sandbox. */
  readonly bwrap: ChildProcess
  /** Host pid of the sandbox's pid 1, the target exec enters. */
  readonly sandboxPid: number
  readonly cgroupNamespace: boolean
}

const MAX_STDERR = 64 * 1024

export const launch = (request: LaunchRequest): Effect.Effect<Launched, LaunchFailed> =>
  Effect.async<Launched, LaunchFailed>((resume) => {
    const child = spawn("/bin/sh", request.launcherArgs, { env: HOST_ENV, stdio: ["pipe", "pipe", "pipe", "pipe", "pipe", "pipe"] })
    const pipes = child.stdio as ReadonlyArray<unknown>
    const info = pipes[INFO_FD] as Readable
    const block = pipes[USERNS_BLOCK_FD] as Writable
    const options = pipes[ARGS_FD] as Writable
    let infoText = ""
    let stdout = ""
    let stderr = ""
    let sandbox: { readonly childPid: number; readonly cgroupNamespace: boolean } | null = null
    let settled = false

    const settle = (outcome: Effect.Effect<Launched, LaunchFailed>) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.off("exit", onExit)
      child.off("error", onError)
      info.destroy()
      block.destroy()
      child.stdout?.removeAllListeners("data").resume()
      child.stderr?.removeAllListeners("data").resume()
      resume(outcome)
    }
    const fail = (detail: string) => {
      child.kill("SIGKILL")
      settle(Effect.fail(new LaunchFailed({ id: request.id, detail })))
    }
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(stderr.trim() !== "" ? stderr.trim() : `bwrap exited with ${code === null ? `signal ${signal}` : `status ${code}`} before it was ready`)
    const onError = (cause: Error) => fail(`cannot spawn /bin/sh: ${cause.message}`)
    const timer = setTimeout(
      () => fail(`not ready after ${request.timeoutMs} ms; bwrap said: ${stderr.trim() || "nothing"}`),
      request.timeoutMs
    )

    for (const pipe of [options, info, block, child.stdin]) pipe?.on("error", () => undefined)
    options.end(request.argsData)
    info.on("data", (chunk: Buffer) => {
      infoText += chunk.toString("utf8")
      const parsed = sandbox === null ? parseInfo(infoText) : null
      if (parsed === null) return
      sandbox = parsed
      try {
        fs.writeFileSync(`/proc/${parsed.childPid}/uid_map`, request.uidMap)
        fs.writeFileSync(`/proc/${parsed.childPid}/setgroups`, "deny")
        fs.writeFileSync(`/proc/${parsed.childPid}/gid_map`, request.gidMap)
        block.write("1")
      } catch (cause) {
        fail(`cannot write the user namespace maps of pid ${parsed.childPid}: ${describeCause(cause)}`)
      }
    })
    child.stderr?.on("data", (chunk: Buffer) => {
      if (stderr.length < MAX_STDERR) stderr += chunk.toString("utf8")
    })
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8")
      if (stdout.includes("ready\n") && sandbox !== null) {
        settle(Effect.succeed({ bwrap: child, sandboxPid: sandbox.childPid, cgroupNamespace: sandbox.cgroupNamespace }))
      }
    })
    child.on("exit", onExit)
    child.on("error", onError)
    return Effect.sync(() => fail("interrupted while starting"))
  })
