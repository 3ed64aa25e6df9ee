// The spawner helper with real processes: output, stdin and truncation; the gate (nothing runs before
// go, the wait after ready is measured and left out of the duration); kill before go; a command that
// cannot start; and the helper dying under a run (a clear failure, then a new helper).
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { makeSpawner } from "../../../src/runners/spawner/spawner.js"

const request = (args: ReadonlyArray<string>, extra: Partial<{ stdin: Uint8Array; maxOutputBytes: number; fd3: "none" | "report" | "gate" }> = {}) => ({
  file: "/bin/sh",
  args: ["-c", ...args],
  env: { PATH: "/usr/bin:/bin" },
  stdin: extra.stdin,
  maxOutputBytes: extra.maxOutputBytes ?? 1024,
  fd3: extra.fd3 ?? "none"
})
const text = (b: Uint8Array) => Buffer.from(b).toString("utf8")
const GATE = 'printf r >&3; read -r _ <&3 || exit 125; exec 3<&-; '

describe("spawner", () => {
  it.scopedLive("runs a command: exit code, stdout, stderr, stdin, and output cut at maxOutputBytes", () =>
    Effect.gen(function* () {
      const spawner = yield* makeSpawner
      const echo = yield* (yield* spawner.spawn(request(["cat; echo err >&2; exit 3"], { stdin: Buffer.from("hello") }))).done
      expect([echo.exitCode, text(echo.stdout), text(echo.stderr), echo.stdoutTruncated]).toEqual([3, "hello", "err\n", false])
      const big = yield* (yield* spawner.spawn(request(["head -c 5000 /dev/zero"], { maxOutputBytes: 100 }))).done
      expect([big.stdout.length, big.stdoutTruncated, big.exitCode]).toEqual([100, true, 0])
    })
  )

  it.scopedLive("gated: nothing after the gate runs before go; the wait after ready is reported and not in durationMs", () =>
    Effect.gen(function* () {
      const spawner = yield* makeSpawner
      const marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "hv-spawner-")), "ran")
      const proc = yield* spawner.spawn(request([`${GATE}touch ${marker}`], { fd3: "gate" }))
      yield* Effect.sleep("300 millis")
      expect(fs.existsSync(marker)).toBe(false)
      yield* proc.go
      const outcome = yield* proc.done
      expect(outcome.exitCode).toBe(0)
      expect(fs.existsSync(marker)).toBe(true)
      expect(outcome.blockedMs).toBeGreaterThan(150)
      expect(outcome.durationMs).toBeLessThan(150)
    })
  )

  it.scopedLive("gated and killed before go: the command never runs", () =>
    Effect.gen(function* () {
      const spawner = yield* makeSpawner
      const marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "hv-spawner-")), "ran")
      const proc = yield* spawner.spawn(request([`${GATE}touch ${marker}`], { fd3: "gate" }))
      yield* Effect.sleep("100 millis")
      yield* proc.kill
      const outcome = yield* proc.done
      expect(outcome.signal).toBe("SIGKILL")
      yield* Effect.sleep("100 millis")
      expect(fs.existsSync(marker)).toBe(false)
    })
  )

  it.scopedLive("fd 3: what the process writes there comes back as reported (less a gated run's ready byte); without it, nothing", () =>
    Effect.gen(function* () {
      const spawner = yield* makeSpawner
      const report = yield* (yield* spawner.spawn(request(["printf xy >&3; exec 3>&-; echo out"], { fd3: "report" }))).done
      expect([report.reported, text(report.stdout), report.exitCode]).toEqual(["xy", "out\n", 0])
      const gated = yield* spawner.spawn(request([`${GATE.replace("exec 3<&-; ", "")}printf c >&3; exit 125`], { fd3: "gate" }))
      yield* gated.go
      const failed = yield* gated.done
      expect([failed.reported, failed.exitCode]).toEqual(["c", 125])
      const none = yield* (yield* spawner.spawn(request(["printf c >&3 2>/dev/null; exit 125"]))).done
      expect([none.reported, none.exitCode]).toEqual(["", 125])
    })
  )

  it.scopedLive("a command that cannot start fails with the spawn's reason", () =>
    Effect.gen(function* () {
      const spawner = yield* makeSpawner
      const failed = yield* Effect.flip((yield* spawner.spawn({ ...request([]), file: "/nonexistent/binary" })).done)
      expect(failed._tag).toBe("RunnerIoFailure")
      expect(failed.message).toContain("ENOENT")
    })
  )

  it.scopedLive("a helper that dies under a run fails that run clearly, and the next run gets a new helper", () =>
    Effect.gen(function* () {
      const spawner = yield* makeSpawner
      const proc = yield* spawner.spawn(request(["sleep 31.5"]))
      yield* Effect.sleep("200 millis")
      const helper = spawner.helperPid()
      expect(helper).not.toBeNull()
      process.kill(helper!, "SIGKILL")
      const failed = yield* Effect.flip(proc.done)
      expect(failed.message).toContain("spawner process")
      const next = yield* (yield* spawner.spawn(request(["echo again"]))).done
      expect(text(next.stdout)).toBe("again\n")
      expect(spawner.helperPid()).not.toBe(helper)
      // the dead helper's command is an orphan now (a runner kills it with the exec's cgroup)
      execFileSync("pkill", ["-f", "sleep 31.5"])
    })
  )

  it.scopedLive("doneWithin: None while the process runs on past the limit, then its outcome; every waiter gets it, a cut-off waiter is dropped", () =>
    Effect.gen(function* () {
      const spawner = yield* makeSpawner
      const proc = yield* spawner.spawn(request(["sleep 30.25; echo late"]))
      expect(Option.isNone(yield* proc.doneWithin(150))).toBe(true)
      // a waiter interrupted before the outcome leaves nothing behind; two others both get it
      yield* Fiber.interrupt(yield* Effect.fork(proc.doneWithin(60_000)))
      const [a, b] = yield* Effect.all([proc.doneWithin(60_000), proc.done, Effect.sync(() => execFileSync("pkill", ["-f", "^sleep 30.25$"]))], { concurrency: "unbounded" })
      expect(Option.isSome(a)).toBe(true)
      expect(Option.getOrThrow(a)).toBe(b)
      expect(text(b.stdout)).toBe("late\n")
      // after the outcome, both answer at once with it
      expect(Option.getOrThrow(yield* proc.doneWithin(1))).toBe(b)
      const quick = yield* (yield* spawner.spawn(request(["echo fast"]))).doneWithin(60_000)
      expect(text(Option.getOrThrow(quick).stdout)).toBe("fast\n")
    })
  )
})
