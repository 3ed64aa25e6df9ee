// Commands and events of one sandbox for the decider's specs, and the given-states they lead to.
import type { SandboxCommand } from "../../../src/domain/sandbox/sandbox-commands.js"
import type { SandboxEvent } from "../../../src/domain/sandbox/sandbox-events.js"
import type { LifecycleOrInitial } from "../../../src/domain/sandbox/sandbox.js"
import type { Template } from "../../../src/domain/sandbox/template.js"

export const AT = Date.parse("2026-03-01T12:00:00.000Z")

export const template: Template = {
  name: "tiny",
  description: "a test template",
  runner: "bwrap",
  rootfs: { kind: "host" },
  resources: { cpu_cores: 1, memory_mb: 256, pids: 64 },
  network: { mode: "none" },
  default_policy: "restricted",
  session_duration_hours: 1
}

export const security = { default_policy: "restricted", allow_internet: false, max_cpu_cores: 4, max_memory_gb: 8 }

export const handle = { id: "sb1", runner: "bwrap", pid: 42, cgroup: "/sys/fs/cgroup/hydravisor/sb1", runnerState: {} }

export const launch = (overrides: Partial<Extract<SandboxCommand, { _tag: "Launch" }>> = {}): SandboxCommand => ({
  _tag: "Launch",
  sandboxId: "sb1",
  name: "alpha",
  template,
  resources: template.resources,
  network: template.network,
  policy: "restricted",
  owner: { kind: "operator", id: "alice" },
  agent: null,
  env: { TOKEN: "s3cret" },
  namesInUse: [],
  runners: ["bwrap"],
  security,
  at: AT,
  ...overrides
})

export const exec = (execId = "e1", overrides: Partial<Extract<SandboxCommand, { _tag: "Exec" }>> = {}): SandboxCommand => ({
  _tag: "Exec",
  execId,
  argv: ["echo", "hi"],
  cwd: null,
  env: {},
  stdin: null,
  timeoutMs: 5000,
  at: AT + 1000,
  ...overrides
})

const output = { sha256: "0".repeat(64), bytes: 0, truncated: false }

export const executed = (execId = "e1", overrides: Partial<Extract<SandboxCommand, { _tag: "RecordExecuted" }>> = {}): SandboxCommand => ({
  _tag: "RecordExecuted",
  execId,
  exitCode: 0,
  signal: null,
  durationMs: 3,
  timedOut: false,
  oomKilled: false,
  stdout: output,
  stderr: output,
  counters: { oomKills: 0, pidsLimitHits: 0 },
  at: AT + 2000,
  ...overrides
})

export const commands = {
  Launch: launch(),
  RecordProvisioned: { _tag: "RecordProvisioned", handle, at: AT },
  RecordStarted: { _tag: "RecordStarted", handle, at: AT },
  Exec: exec(),
  RecordExecuted: executed("unknown"),
  RecordExecFailed: { _tag: "RecordExecFailed", execId: "unknown", reason: "cgroup gone", at: AT },
  Pause: { _tag: "Pause", at: AT },
  Resume: { _tag: "Resume", at: AT },
  Stop: { _tag: "Stop", reason: "done", at: AT },
  Destroy: { _tag: "Destroy", at: AT },
  MarkDead: { _tag: "MarkDead", reason: "cgroup vanished", at: AT },
  RecordFailed: { _tag: "RecordFailed", operation: "launch", reason: "bwrap: boom", at: AT }
} satisfies Record<SandboxCommand["_tag"], SandboxCommand>

export const requested: SandboxEvent = {
  type: "SandboxRequested",
  data: {
    sandboxId: "sb1",
    name: "alpha",
    template,
    resources: template.resources,
    network: template.network,
    policy: "restricted",
    owner: { kind: "operator", id: "alice" },
    agent: null,
    env: { TOKEN: "s3cret" },
    expiresAt: "2026-03-01T13:00:00.000Z"
  }
}
export const provisioned: SandboxEvent = { type: "SandboxProvisioned", data: { handle } }
export const started: SandboxEvent = { type: "SandboxStarted", data: { handle } }
export const paused: SandboxEvent = { type: "SandboxPaused", data: {} }
export const stopped = (reason = "done"): SandboxEvent => ({ type: "SandboxStopped", data: { reason } })
export const destroyed: SandboxEvent = { type: "SandboxDestroyed", data: {} }
export const failed: SandboxEvent = { type: "SandboxFailed", data: { operation: "launch", reason: "bwrap: boom" } }
export const commandStarted = (execId = "e1"): SandboxEvent => ({
  type: "CommandStarted",
  data: { execId, argv: ["echo", "hi"], cwd: null, env: {}, stdin: null, timeoutMs: 5000 }
})

/** Events that bring a new sandbox into each state. */
export const given: Record<LifecycleOrInitial, ReadonlyArray<SandboxEvent>> = {
  initial: [],
  requested: [requested],
  provisioning: [requested, provisioned],
  running: [requested, provisioned, started],
  paused: [requested, provisioned, started, paused],
  stopped: [requested, provisioned, started, stopped()],
  destroyed: [requested, provisioned, started, stopped(), destroyed],
  failed: [requested, failed]
}
