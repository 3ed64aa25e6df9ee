// Raw connection attempts, seen in the kernel: bpftrace on the connect() syscall tracepoints, for the
// processes of one sandbox (its pid namespace, or its network namespace). Such connections bypass the
// proxy; with only loopback in the sandbox they fail by construction, and this is their record.
import { Deferred, Effect, Fiber } from "effect"
import type { Scope } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as readline from "node:readline"
import { diesWithParent } from "../dies-with-parent.js"
import { formatIp, hostLocalKind } from "./address.js"
import type { IpAddress } from "./address.js"

export const MECHANISM = "bpftrace: tracepoint syscalls:sys_enter_connect/sys_exit_connect"

const SCRIPT = `
BEGIN { printf("READY\\n"); }
tracepoint:syscalls:sys_enter_connect
/ curtask->nsproxy->pid_ns_for_children->ns.inum == $1 || curtask->nsproxy->net_ns->ns.inum == $2 /
{
  $sa = (uint8 *)args->uservaddr;
  $family = *(uint16 *)$sa;
  $port = (*(uint8 *)($sa + 2) << 8) | *(uint8 *)($sa + 3);
  if ($family == 2 && *(uint8 *)($sa + 4) != 127) {
    printf("C %d %d 4 %d %u\\n", pid, tid, $port, *(uint32 *)($sa + 4));
    @pending[tid] = 1;
  }
  if ($family == 10) {
    printf("C %d %d 6 %d %u %u %u %u\\n", pid, tid, $port, *(uint32 *)($sa + 8), *(uint32 *)($sa + 12), *(uint32 *)($sa + 16), *(uint32 *)($sa + 20));
    @pending[tid] = 1;
  }
}
tracepoint:syscalls:sys_exit_connect / @pending[tid] / { printf("R %d %d\\n", tid, args->ret); delete(@pending[tid]); }
END { clear(@pending); }
`

export interface RawConnect {
  readonly pid: number
  readonly address: IpAddress
  readonly port: number
  /** connect()'s return value (0, or a negative errno); null when its exit was not seen. */
  readonly result: number | null
}

export interface TraceHandlers {
  readonly onConnect: (attempt: RawConnect) => void
  /** bpftrace dropped events or was restarted: a window in which attempts may be missing. */
  readonly onGap: (gap: { readonly reason: string; readonly lost: number | null; readonly from: string; readonly to: string | null }) => void
}

/** Reads the little-endian u32 words bpftrace printed back into address bytes. */
export const wordsToAddress = (family: 4 | 6, words: ReadonlyArray<number>): IpAddress => {
  const bytes = new Uint8Array(family === 4 ? 4 : 16)
  words.slice(0, family === 4 ? 1 : 4).forEach((word, i) => {
    for (let b = 0; b < 4; b++) bytes[i * 4 + b] = (word >>> (8 * b)) & 0xff
  })
  return { family, bytes }
}

/** Parses one line of the trace; pairs enters with exits per thread through `pending`. */
export const readTraceLine = (line: string, pending: Map<number, Omit<RawConnect, "result">>): RawConnect | "lost" | null => {
  const fields = line.trim().split(/\s+/)
  const numbers = fields.slice(1).map(Number)
  if (fields[0] === "C" && numbers.every(Number.isFinite)) {
    const [pid = 0, tid = 0, family, port = 0, ...words] = numbers
    if (family !== 4 && family !== 6) return null
    pending.set(tid, { pid, address: wordsToAddress(family, words), port })
    return null
  }
  if (fields[0] === "R" && numbers.length === 2 && numbers.every(Number.isFinite)) {
    const [tid = 0, result = 0] = numbers
    const entered = pending.get(tid)
    pending.delete(tid)
    return entered === undefined ? null : { ...entered, result }
  }
  return /Lost \d+ events/.test(line) ? "lost" : null
}

const ERRNO: Readonly<Record<number, string>> = { 101: "ENETUNREACH", 113: "EHOSTUNREACH", 111: "ECONNREFUSED", 115: "EINPROGRESS", 110: "ETIMEDOUT", 13: "EACCES", 1: "EPERM" }
export const describeResult = (result: number | null): string =>
  result === null ? "its result was not seen" : result === 0 ? "it returned 0" : `it failed with ${ERRNO[-result] ?? `errno ${-result}`}`

/** Loopback (the sandbox's own, which includes the proxy) is the sandbox talking to itself: not recorded. */
export const isOwnLoopback = (address: IpAddress): boolean => {
  const kind = hostLocalKind(address, [])
  return kind === "loopback" || kind === "unspecified"
}

const namespaceInode = (pid: number, ns: "pid" | "net"): string | null => {
  try {
    return /\[(\d+)\]/.exec(fs.readlinkSync(`/proc/${pid}/ns/${ns}`))?.[1] ?? null
  } catch {
    return null
  }
}

/** Why syscall tracing cannot run here, or null; mounts tracefs when it is missing. */
export const traceUnavailable = (bpftrace: string): string | null => {
  try {
    execFileSync(bpftrace, ["--version"], { stdio: "ignore" })
  } catch {
    return `${bpftrace} cannot run (install bpftrace)`
  }
  const events = "/sys/kernel/tracing/events/syscalls/sys_enter_connect"
  if (!fs.existsSync(events)) {
    try {
      execFileSync("mount", ["-t", "tracefs", "nodev", "/sys/kernel/tracing"], { stdio: "ignore" })
    } catch {
      // reported just below
    }
  }
  return fs.existsSync(events) ? null : `${events} is missing (tracefs not mountable, or no syscall tracepoints)`
}

const now = () => new Date().toISOString()

/**
 * Runs bpftrace for the sandbox of `pid` until the scope closes, restarting it (and reporting a gap)
 * if it dies. Fails with the reason when the first run does not attach within 20 s.
 */
export const traceConnects = (pid: number, handlers: TraceHandlers, bpftrace = "bpftrace"): Effect.Effect<void, string, Scope.Scope> =>
  Effect.gen(function* () {
    const problem = traceUnavailable(bpftrace)
    if (problem !== null) return yield* Effect.fail(problem)
    const pidNs = namespaceInode(pid, "pid")
    const netNs = namespaceInode(pid, "net")
    if (pidNs === null || netNs === null) return yield* Effect.fail(`cannot read the namespaces of pid ${pid}`)
    const firstReady = yield* Deferred.make<void, string>()

    const runOnce = (onReady: () => void) =>
      Effect.async<string>((resume) => {
        const child = spawn(...diesWithParent(bpftrace, ["-e", SCRIPT, pidNs, netNs]), { env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", BPFTRACE_NO_USER_SYMBOLS: "1" }, stdio: ["ignore", "pipe", "pipe"] })
        const pending = new Map<number, Omit<RawConnect, "result">>()
        let stderr = ""
        const onLine = (line: string) => {
          if (line.trim() === "READY") return onReady()
          const read = readTraceLine(line, pending)
          if (read === "lost") handlers.onGap({ reason: `bpftrace: ${line.trim()}`, lost: Number(/(\d+)/.exec(line)?.[1] ?? "0"), from: now(), to: now() })
          else if (read !== null) handlers.onConnect(read)
        }
        if (child.stdout !== null) readline.createInterface({ input: child.stdout }).on("line", onLine)
        child.stderr?.on("data", (chunk: Buffer) => {
          const text = chunk.toString("utf8")
          if (/Lost \d+ events/.test(text)) onLine(text)
          else if (stderr.length < 4096) stderr += text
        })
        child.on("error", (error) => resume(Effect.succeed(`cannot run bpftrace: ${error.message}`)))
        child.on("exit", (code, signal) => {
          for (const entered of pending.values()) handlers.onConnect({ ...entered, result: null })
          const said = stderr.split("\n").filter((l) => l.trim() !== "" && !l.includes("RLIMIT_MEMLOCK")).join("; ")
          resume(Effect.succeed(`bpftrace exited (${code === null ? `signal ${signal}` : `status ${code}`})${said === "" ? "" : `: ${said}`}`))
        })
        return Effect.sync(() => child.kill("SIGKILL"))
      })

    const supervise = Effect.gen(function* () {
      let exit = yield* runOnce(() => Deferred.unsafeDone(firstReady, Effect.void))
      yield* Deferred.fail(firstReady, exit)
      for (;;) {
        const from = now()
        yield* Effect.sleep("1 second")
        let reported = false
        exit = yield* runOnce(() => {
          if (reported) return
          reported = true
          handlers.onGap({ reason: `${exit}; restarted`, lost: null, from, to: now() })
        })
      }
    })
    const fiber = yield* Effect.forkScoped(supervise)
    const ready = yield* Deferred.await(firstReady).pipe(
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => "bpftrace did not attach within 20 s" }),
      Effect.either
    )
    if (ready._tag === "Left") {
      yield* Fiber.interrupt(fiber)
      return yield* Effect.fail(ready.left)
    }
  })

export const describeAttempt = (attempt: RawConnect): string =>
  `connect() to ${formatIp(attempt.address)} port ${attempt.port} outside the proxy; ${describeResult(attempt.result)} (the sandbox's network has only loopback)`
