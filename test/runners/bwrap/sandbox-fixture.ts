// Shared setup for tests against the real bwrap and cgroups: a throw-away data dir laid out like the
// daemon's (workspaces/ and state/ side by side), a runner on a test-only cgroup subtree, and sandboxes
// that are destroyed when the test's scope closes. Nothing here skips: a host without bwrap or cgroups
// makes the tests fail with the runner's own HostUnsupported message.
import { Effect } from "effect"
import type { Scope } from "effect"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { make } from "../../../src/runners/bwrap/bwrap-runner.js"
import { probeHost } from "../../../src/runners/bwrap/host.js"
import { sandboxCgroupPaths } from "../../../src/runners/cgroups/layout.js"
import type { SandboxCgroupPaths } from "../../../src/runners/cgroups/layout.js"
import type { RunnerError } from "../../../src/runners/errors.js"
import type { ExecRequest, ExecResult, Runner, SandboxHandle, SandboxSpec } from "../../../src/runners/runner.js"

export const TEST_CGROUP_PARENT = "hydravisor-test"

export const testRunner: Effect.Effect<Runner, never, Scope.Scope> = make({ cgroupParent: TEST_CGROUP_PARENT })

/** Where the runner keeps a sandbox's cgroups on this host. */
export const cgroupPathsOf = (handle: SandboxHandle): Effect.Effect<SandboxCgroupPaths, RunnerError> =>
  probeHost(TEST_CGROUP_PARENT).pipe(Effect.map((host) => sandboxCgroupPaths(host.layout, TEST_CGROUP_PARENT, handle.id)))

/** A temporary data dir (mode 0700, like the daemon's), removed with the scope. */
export const dataDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "hv-runner-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

export const uniqueId = (label: string): string => `t-${label}-${randomBytes(4).toString("hex")}`

export const specIn = (dir: string, id: string, overrides: Partial<SandboxSpec> = {}): SandboxSpec => ({
  id,
  hostname: id,
  workspaceDir: path.join(dir, "workspaces", id),
  stateDir: path.join(dir, "state", id),
  rootfs: { kind: "host" },
  resources: { cpuCores: 1, memoryMb: 256, pids: 128 },
  network: "none",
  env: {},
  ...overrides
})

export interface TestSandbox {
  readonly handle: SandboxHandle
  readonly spec: SandboxSpec
  readonly run: (argv: ReadonlyArray<string>, options?: Omit<ExecRequest, "argv">) => Effect.Effect<ExecResult, RunnerError>
  /** Runs a /bin/sh script inside. */
  readonly sh: (script: string, options?: Omit<ExecRequest, "argv">) => Effect.Effect<ExecResult, RunnerError>
}

/** Creates and starts a sandbox in `dir`; destroyed (processes, cgroup, dirs) when the scope closes. */
export const launchSandbox = (
  runner: Runner,
  dir: string,
  label: string,
  overrides: Partial<SandboxSpec> = {}
): Effect.Effect<TestSandbox, RunnerError, Scope.Scope> =>
  Effect.gen(function* () {
    const spec = specIn(dir, uniqueId(label), overrides)
    const created = yield* Effect.acquireRelease(runner.create(spec), (handle) => runner.destroy(handle).pipe(Effect.orDie))
    const handle = yield* runner.start(created)
    const run = (argv: ReadonlyArray<string>, options: Omit<ExecRequest, "argv"> = {}) => runner.exec(handle, { argv, ...options })
    return { handle, spec, run, sh: (script, options) => run(["/bin/sh", "-c", script], options) }
  })

export const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString("utf8")

export const out = (result: ExecResult): string => text(result.stdout)

/** Polls `check` every 20 ms until it holds or `timeoutMs` passes; returns whether it held. */
export const eventually = (check: () => boolean, timeoutMs = 5_000): Effect.Effect<boolean> =>
  Effect.gen(function* () {
    for (let waited = 0; waited <= timeoutMs; waited += 20) {
      if (check()) return true
      yield* Effect.sleep("20 millis")
    }
    return check()
  })

export const readNumber = (file: string): number => Number(fs.readFileSync(file, "utf8").trim() || "NaN")
