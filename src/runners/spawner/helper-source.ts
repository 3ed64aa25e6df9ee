// The spawner helper's program (run with `node -e`, so it is the same from src/ under tsx and from
// dist/). A fork copies the forking process's page tables: the daemon paid 1.7-13 ms of main-thread
// time per exec at 165-481 MB (bench/spawn.ts). This small process forks instead and reports back
// over the IPC channel (advanced serialization: Buffers travel as bytes).
//
// Per run: spawn detached (setsid: no controlling terminal), feed stdin, keep at most maxOutputBytes
// of stdout and stderr (reading and dropping the rest so the writer never blocks), and report once
// the process exited and its pipes closed (or PIPE_GRACE_MS after the exit, when a background child
// still holds them). A run with fd 3 gets a channel to this helper there. Gated, its launcher writes
// "r" there when it is ready and waits for a line; "go" writes that line, "kill" SIGKILLs the process.
// Time spent waiting at the gate after the launcher was ready is measured here, where the event loop
// has nothing else to do, and subtracted from the reported duration. Every other byte on fd 3 is
// reported back as written (a launcher's reason for giving up).
// The helper exits when the daemon goes away (its IPC channel closes).
export const HELPER_SOURCE = `
"use strict"
const { spawn } = require("node:child_process")
const PIPE_GRACE_MS = 100
const runs = new Map()
const send = (m) => { if (process.connected) process.send(m) }
const capture = (stream, max, state) => {
  if (stream === null) return
  stream.on("data", (chunk) => {
    const room = max - state.size
    if (room <= 0) { if (chunk.length > 0) state.truncated = true; return }
    const kept = chunk.length <= room ? chunk : chunk.subarray(0, room)
    if (kept.length < chunk.length) state.truncated = true
    state.chunks.push(kept)
    state.size += kept.length
  })
}
const start = (m) => {
  const startedAt = performance.now()
  let child
  try {
    child = spawn(m.file, m.args, { env: m.env, stdio: ["pipe", "pipe", "pipe", m.fd3 === "none" ? "ignore" : "pipe"], detached: true })
  } catch (e) {
    return send({ t: "failed", id: m.id, message: String(e && e.message || e) })
  }
  const run = { child, startedAt, readyAt: null, goAt: null, exited: null, finished: false, out: { chunks: [], size: 0, truncated: false }, err: { chunks: [], size: 0, truncated: false }, gate: m.fd3 === "none" ? null : child.stdio[3], gated: m.fd3 === "gate", reported: "", go: false }
  runs.set(m.id, run)
  capture(child.stdout, m.maxOutputBytes, run.out)
  capture(child.stderr, m.maxOutputBytes, run.err)
  if (run.gate) {
    run.gate.on("error", () => undefined)
    run.gate.on("data", (chunk) => {
      let text = chunk.toString("latin1")
      if (run.gated && run.readyAt === null && text[0] === "r") {
        run.readyAt = performance.now()
        text = text.slice(1)
      }
      if (run.reported.length < 64) run.reported += text.slice(0, 64 - run.reported.length)
    })
  }
  child.stdin.on("error", () => undefined)
  child.stdin.end(m.stdin ? Buffer.from(m.stdin) : undefined)
  let grace
  const finish = () => {
    if (run.finished) return
    run.finished = true
    if (grace) clearTimeout(grace)
    child.stdout.destroy()
    child.stderr.destroy()
    if (run.gate) run.gate.destroy()
    runs.delete(m.id)
    const exitedAt = run.exited ? run.exited.at : performance.now()
    const blockedMs = run.readyAt !== null && run.goAt !== null ? Math.max(0, run.goAt - run.readyAt) : 0
    send({
      t: "done", id: m.id,
      code: run.exited ? run.exited.code : null, signal: run.exited ? run.exited.signal : null,
      stdout: Buffer.concat(run.out.chunks), stderr: Buffer.concat(run.err.chunks),
      stdoutTruncated: run.out.truncated, stderrTruncated: run.err.truncated,
      durationMs: exitedAt - startedAt - blockedMs, blockedMs, reported: run.reported
    })
  }
  child.on("error", (e) => {
    if (run.finished) return
    run.finished = true
    runs.delete(m.id)
    send({ t: "failed", id: m.id, message: e.message })
  })
  child.on("exit", (code, signal) => {
    run.exited = { code, signal, at: performance.now() }
    grace = setTimeout(finish, PIPE_GRACE_MS)
  })
  child.on("close", finish)
}
process.on("message", (m) => {
  if (m.t === "run") return start(m)
  const run = runs.get(m.id)
  if (run === undefined) return
  if (m.t === "go" && run.gated && !run.go) {
    run.go = true
    run.goAt = performance.now()
    run.gate.write("\\n")
  } else if (m.t === "kill") {
    try { run.child.kill("SIGKILL") } catch {}
  }
})
process.on("disconnect", () => process.exit(0))
`
