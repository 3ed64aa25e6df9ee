// The stdio of one exec: FIFOs the runner creates in the sandbox's state dir and hands to containerd's
// shim by path. Order matters: our ends are opened (non-blocking) before Exec, so the shim's blocking
// open of the output FIFOs finds a reader and its open of stdin finds a writer; they are wrapped in
// streams only after Start, when the shim holds its ends, so that no early EOF is read.
import { Effect } from "effect"
import type { Scope } from "effect"
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { HOST_ENV } from "../bwrap/mapping.js"
import { describeCause, RunnerIoFailure } from "../errors.js"
import type { ExecStdio } from "./mapping.js"

interface Capture {
  readonly chunks: Array<Buffer>
  size: number
  truncated: boolean
  ended: boolean
}

export interface CapturedOutput {
  readonly stdout: Uint8Array
  readonly stderr: Uint8Array
  readonly stdoutTruncated: boolean
  readonly stderrTruncated: boolean
}

export interface ExecIo {
  readonly stdio: ExecStdio
  /**
   * Call once Start has returned: starts reading output and feeding stdin. The effect completes when
   * our end of stdin is written and closed (at once without stdin); then the shim's must be closed.
   */
  readonly attach: (stdin: Uint8Array | undefined) => Effect.Effect<void>
  /** Waits until both outputs reached EOF, at most `graceMs` (a background child may hold them open). */
  readonly drain: (graceMs: number) => Effect.Effect<void>
  readonly output: () => CapturedOutput
}

const { O_RDONLY, O_RDWR, O_NONBLOCK } = fs.constants

const makeFifos = (mkfifo: string, paths: ReadonlyArray<string>) =>
  Effect.async<void, RunnerIoFailure>((resume) => {
    execFile(mkfifo, ["-m", "0600", ...paths], { env: HOST_ENV }, (error, _stdout, stderr) =>
      resume(
        error === null
          ? Effect.void
          : Effect.fail(new RunnerIoFailure({ path: paths[0] ?? "", operation: "mkfifo", reason: stderr.trim() || error.message }))
      )
    )
  })

export interface FifoSet {
  readonly stdin: string
  readonly stdout: string
  readonly stderr: string
}

/**
 * FIFOs made ahead of time: creating them takes a process spawn (mkfifo), which is a fifth of an
 * exec's round trip, so each sandbox's io dir keeps a small stock that is refilled in the background.
 */
export interface FifoPool {
  readonly take: (ioDir: string) => Effect.Effect<FifoSet, RunnerIoFailure>
  /** Starts filling a sandbox's stock in the background. */
  readonly stock: (ioDir: string) => Effect.Effect<void>
  /** Forgets a sandbox's stock (its io dir is being emptied or removed). */
  readonly drop: (ioDir: string) => void
}

const STOCK = 8

export const makeFifoPool = (mkfifo: string, scope: Scope.Scope): FifoPool => {
  const stock = new Map<string, Array<FifoSet>>()
  const refilling = new Set<string>()
  const fresh = (ioDir: string, count: number): ReadonlyArray<FifoSet> =>
    Array.from({ length: count }, () => {
      const base = path.join(ioDir, randomBytes(6).toString("hex"))
      return { stdin: `${base}.stdin`, stdout: `${base}.stdout`, stderr: `${base}.stderr` }
    })
  const paths = (sets: ReadonlyArray<FifoSet>) => sets.flatMap((set) => [set.stdin, set.stdout, set.stderr])
  const refill = (ioDir: string) =>
    Effect.suspend(() => {
      if (refilling.has(ioDir)) return Effect.void
      refilling.add(ioDir)
      const sets = fresh(ioDir, STOCK)
      return makeFifos(mkfifo, paths(sets)).pipe(
        Effect.tap(() => Effect.sync(() => stock.set(ioDir, [...(stock.get(ioDir) ?? []), ...sets]))),
        Effect.ignore,
        Effect.ensuring(Effect.sync(() => refilling.delete(ioDir))),
        Effect.forkIn(scope),
        Effect.asVoid
      )
    })
  return {
    take: (ioDir) =>
      Effect.gen(function* () {
        const available = stock.get(ioDir) ?? []
        const taken = available.pop()
        if (available.length <= STOCK / 2) yield* refill(ioDir)
        if (taken !== undefined && fs.existsSync(taken.stdout)) return taken
        const [set] = fresh(ioDir, 1)
        yield* makeFifos(mkfifo, paths([set!]))
        return set!
      }),
    stock: refill,
    drop: (ioDir) => void stock.delete(ioDir)
  }
}

const readInto = (socket: net.Socket, capture: Capture, max: number, onEnd: () => void) => {
  socket.on("data", (chunk: Buffer) => {
    const room = max - capture.size
    if (room <= 0) {
      if (chunk.length > 0) capture.truncated = true
      return
    }
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room)
    if (kept.length < chunk.length) capture.truncated = true
    capture.chunks.push(kept)
    capture.size += kept.length
  })
  socket.on("error", () => undefined)
  socket.once("close", () => {
    capture.ended = true
    onEnd()
  })
}

/**
 * Opens our ends of a FIFO set (no stdin FIFO is handed over when there is no input: the process then
 * reads /dev/null); everything is closed and the FIFOs unlinked with the scope.
 */
export const openExecIo = (fifos: FifoSet, withStdin: boolean, maxOutputBytes: number): Effect.Effect<ExecIo, RunnerIoFailure, Scope.Scope> =>
  Effect.gen(function* () {
    const stdio: ExecStdio = { stdin: withStdin ? fifos.stdin : "", stdout: fifos.stdout, stderr: fifos.stderr }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const p of [fifos.stdin, fifos.stdout, fifos.stderr]) fs.rmSync(p, { force: true })
      })
    )
    const fds: Array<number> = []
    const sockets: Array<net.Socket> = []
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
        for (const fd of fds) fs.close(fd, () => undefined)
      })
    )
    const open = (file: string, flags: number) =>
      Effect.try({
        try: () => {
          const fd = fs.openSync(file, flags)
          fds.push(fd)
          return fd
        },
        catch: (cause) => new RunnerIoFailure({ path: file, operation: "open fifo", reason: describeCause(cause) })
      })
    // read+write: a writer exists from now on, so the shim's non-blocking reader sees no early EOF
    const stdinFd = withStdin ? yield* open(stdio.stdin, O_RDWR | O_NONBLOCK) : null
    const stdoutFd = yield* open(stdio.stdout, O_RDONLY | O_NONBLOCK)
    const stderrFd = yield* open(stdio.stderr, O_RDONLY | O_NONBLOCK)

    const stdout: Capture = { chunks: [], size: 0, truncated: false, ended: false }
    const stderr: Capture = { chunks: [], size: 0, truncated: false, ended: false }
    let onBothEnded: () => void = () => undefined
    const ended = () => {
      if (stdout.ended && stderr.ended) onBothEnded()
    }
    const wrap = (fd: number, readable: boolean) => {
      // the socket owns the fd from here on
      fds.splice(fds.indexOf(fd), 1)
      const socket = new net.Socket({ fd, readable, writable: !readable })
      sockets.push(socket)
      return socket
    }

    return {
      stdio,
      attach: (input) => {
        readInto(wrap(stdoutFd, true), stdout, maxOutputBytes, ended)
        readInto(wrap(stderrFd, true), stderr, maxOutputBytes, ended)
        if (stdinFd === null) return Effect.void
        const socket = wrap(stdinFd, false)
        socket.on("error", () => undefined)
        return Effect.async<void>((resume) => {
          // our fd is read+write, so only closing it (not a shutdown) ends our side
          const close = () => {
            socket.destroy()
            resume(Effect.void)
          }
          socket.once("close", () => resume(Effect.void))
          if (input === undefined || input.length === 0) socket.end(close)
          else socket.end(Buffer.from(input), close)
        })
      },
      drain: (graceMs) =>
        Effect.async<void>((resume) => {
          if (stdout.ended && stderr.ended) return resume(Effect.void)
          const timer = setTimeout(() => resume(Effect.void), graceMs)
          onBothEnded = () => {
            clearTimeout(timer)
            resume(Effect.void)
          }
          return Effect.sync(() => clearTimeout(timer))
        }),
      output: () => ({
        stdout: Buffer.concat(stdout.chunks),
        stderr: Buffer.concat(stderr.chunks),
        stdoutTruncated: stdout.truncated,
        stderrTruncated: stderr.truncated
      })
    }
  })
