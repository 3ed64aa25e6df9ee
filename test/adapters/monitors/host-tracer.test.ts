// The life of a host-wide bpftrace (host-tracer.ts), through the network monitor's connect() tracer
// and a real bpftrace: it runs while someone subscribes, and a restart after its death that finishes
// after the last subscriber left does not leave it running.
import { execFileSync } from "node:child_process"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeConnectTracer } from "../../../src/adapters/monitors/network/syscall-trace.js"

/** Our bpftrace children (each is exec'd by setpriv in its own process, so it is our child). */
const ourTracers = () => {
  try {
    return execFileSync("pgrep", ["-P", String(process.pid), "-x", "bpftrace"], { encoding: "utf8" }).trim().split("\n").filter(Boolean)
  } catch {
    return []
  }
}

const quiet = { onConnect: () => undefined, onGap: () => undefined }

describe("host tracer", () => {
  it.live("a restart that finishes after the last subscriber left is stopped, not left running", () =>
    Effect.gen(function* () {
      const tracer = makeConnectTracer()
      yield* Effect.scoped(
        Effect.gen(function* () {
          yield* tracer.subscribe(process.pid, quiet)
          const first = tracer.pid()
          expect(first).not.toBeNull()
          expect(ourTracers()).toEqual([String(first)])
          process.kill(first!, "SIGKILL")
          // its exit is seen (~0.2 s: the kernel detaches its probes), and a new bpftrace starts
          // loading (~0.6 s) as the scope closes
          for (let i = 0; i < 250 && tracer.pid() !== null; i++) yield* Effect.sleep("20 millis")
          expect(tracer.pid()).toBeNull()
        })
      )
      yield* Effect.sleep("3 seconds")
      expect(tracer.pid()).toBeNull()
      expect(ourTracers()).toEqual([])
    }), 30_000)
})
