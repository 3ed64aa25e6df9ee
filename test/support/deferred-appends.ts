// A child process for the SQLite durability test, run under strace: deferred appends, then an
// immediate one, then a deferred one left to the background sync. Each phase starts with access() on
// a path that does not exist, so the trace shows where it begins.
import { accessSync } from "node:fs"
import { Effect } from "effect"
import { makeSqliteStore } from "../../src/adapters/store/sqlite/sqlite-store.js"
import { newWriter, nextRecord } from "./record-builder.js"

const [file, phase] = [process.argv[2]!, (name: string) => accessSync(`/hv-phase-${name}`)]
const mark = (name: string) => {
  try {
    phase(name)
  } catch {
    // the failed access() is the mark
  }
}

const program = Effect.gen(function* () {
  const store = yield* makeSqliteStore({ file, deferredSyncMillis: 150 })
  const w = newWriter()
  yield* store.append("sandbox-a", [nextRecord(w, "sandbox-a", "SandboxLaunched", {})], "no_stream")
  mark("deferred")
  for (let i = 0; i < 5; i++) yield* store.append("observations-a", [nextRecord(w, "observations-a", "ProcessStarted", { i })], "any", "deferred")
  const pending = store.unsyncedCommits()
  mark("immediate")
  yield* store.append("sandbox-a", [nextRecord(w, "sandbox-a", "CommandExecuted", {})], "any")
  const afterImmediate = store.unsyncedCommits()
  mark("background")
  yield* store.append("observations-a", [nextRecord(w, "observations-a", "ProcessStarted", { i: 5 })], "any", "deferred")
  yield* Effect.sleep("600 millis")
  const afterWait = store.unsyncedCommits()
  mark("end")
  process.stdout.write(JSON.stringify({ pending, afterImmediate, afterWait }) + "\n")
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  process.stderr.write(`deferred-appends: ${String(e)}\n`)
  process.exit(1)
})
