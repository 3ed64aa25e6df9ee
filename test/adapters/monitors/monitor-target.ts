// What a monitor is told about a test sandbox from the bwrap fixture, as the monitor manager tells it
// about a real one: its ids, workspace, a state dir of its own, its cgroup, its pid and its network.
import * as path from "node:path"
import type { MonitorTarget } from "../../../src/adapters/monitors/monitor.js"
import type { Network } from "../../../src/domain/sandbox/template.js"
import type { TestSandbox } from "../../runners/bwrap/sandbox-fixture.js"

export const monitorTargetOf = (sandbox: TestSandbox, network: Network = { mode: "none" }, networkMbps?: number): MonitorTarget => {
  if (sandbox.handle.pid === null) throw new Error(`sandbox ${sandbox.handle.id} has no pid after start`)
  return {
    sandboxId: sandbox.spec.id,
    runner: "bwrap",
    workspaceDir: sandbox.spec.workspaceDir,
    stateDir: path.join(sandbox.spec.stateDir, "monitors"),
    cgroup: sandbox.handle.cgroup,
    pid: sandbox.handle.pid,
    network,
    ...(networkMbps === undefined ? {} : { networkMbps })
  }
}
