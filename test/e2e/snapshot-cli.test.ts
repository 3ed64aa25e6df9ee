// Acceptance of issue 9's snapshot verbs through the real CLI, daemon and ledger, with bwrap and with
// containerd: `snapshot` prints the id and content hash, `rollback --to` restores it, `snapshot
// --list` shows it; each is recorded with the content hash; a runner without snapshots says so.
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { Effect, Exit, Fiber, Layer } from "effect"
import { daemonLayer, startDaemon } from "../../src/adapters/daemon/daemon.js"
import { socketPath } from "../../src/adapters/daemon/paths.js"
import { defaultConfig } from "../../src/domain/config/config.js"
import { contentHash } from "../../src/runners/bwrap/workspace-copy.js"
import { layer as bwrapLayer } from "../../src/runners/bwrap/bwrap-runner.js"
import { Runner } from "../../src/runners/runner.js"
import { session, stopDaemons } from "../support/cli-session.js"
import { CONTAINERD_TEMPLATE, containerdSession, prepareContainerd, removeLeftoverContainers } from "../support/containerd-session.js"

beforeAll(prepareContainerd, 600_000)
afterAll(async () => {
  await stopDaemons()
  removeLeftoverContainers()
})

const SHA256 = /^[0-9a-f]{64}$/

const cases = [
  { runner: "bwrap", template: "research-env", start: () => session() },
  { runner: "containerd", template: CONTAINERD_TEMPLATE, start: containerdSession }
] as const

describe.each(cases)("snapshot and rollback with $runner", ({ template, start }) => {
  it("snapshot prints id and hash, rollback restores it, --list shows it; both recorded with the content hash", async () => {
    const { env, hv, records } = start()
    const name = "snappy"
    const run = async (script: string) => {
      const r = await hv("exec", name, "--", "sh", "-c", script)
      expect(r.code, r.stderr).toBe(0)
      return r.stdout
    }
    const launched = await hv("launch", "--template", template, "--name", name, "--json")
    expect(launched.code, launched.stderr).toBe(0)
    const sandboxId: string = JSON.parse(launched.stdout).id
    const workspace = join(env.HYDRAVISOR_DATA_DIR, "sandboxes", sandboxId, "workspace")
    await run("mkdir -p src && echo one > src/a.txt && ln -s src/a.txt link")

    const taken = await hv("snapshot", name, "--json")
    expect(taken.code, taken.stderr).toBe(0)
    const snap = JSON.parse(taken.stdout)
    expect(snap).toMatchObject({ sandboxId, snapshotId: expect.stringMatching(/^snap-[0-9a-f]{12}$/), contentHash: expect.stringMatching(SHA256), available: true })
    // The hash is the workspace's canonical listing as it was: computed here from the host side.
    expect(snap.contentHash).toBe(await Effect.runPromise(contentHash(workspace)))

    const human = await hv("snapshot", name)
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toMatch(/^snap-[0-9a-f]{12} [0-9a-f]{64}\n$/)
    expect(human.stdout.split(" ")[1]?.trim()).toBe(snap.contentHash)

    await run("echo two > src/a.txt && echo new > b.txt && rm link")
    expect(await Effect.runPromise(contentHash(workspace))).not.toBe(snap.contentHash)

    const rolled = await hv("rollback", name, "--to", snap.snapshotId, "--json")
    expect(rolled.code, rolled.stderr).toBe(0)
    expect(JSON.parse(rolled.stdout)).toMatchObject({ sandboxId, snapshotId: snap.snapshotId, contentHash: snap.contentHash })
    // Restored files belong to the sandbox user again: it can write them.
    expect(await run("cat src/a.txt; ls; cat link; echo three >> src/a.txt")).toBe("one\nlink\nsrc\none\n")

    const listed = await hv("snapshot", name, "--list", "--json")
    expect(listed.code, listed.stderr).toBe(0)
    const list = JSON.parse(listed.stdout)
    expect(list.length).toBe(2)
    expect(list[0]).toMatchObject({ snapshotId: snap.snapshotId, contentHash: snap.contentHash, available: true, actor: { kind: "operator" } })
    const table = await hv("snapshot", name, "--list")
    expect(table.stdout).toContain("SNAPSHOT")
    expect(table.stdout).toContain(`${snap.snapshotId}  `)

    const unknown = await hv("rollback", name, "--to", "snap-000000000000")
    expect(unknown.code).not.toBe(0)
    expect(unknown.stderr).toContain(`sandbox ${name}: no snapshot 'snap-000000000000' of it`)
    const traversal = await hv("rollback", name, "--to", "../../../etc")
    expect(traversal.code).toBe(2)
    expect(traversal.stderr).toContain(`Expected 'snap-' and 12 hex digits, as \`snapshot\` printed it, actual "../../../etc"`)
    const nobody = await hv("snapshot", "no-such-sandbox")
    expect(nobody.code).not.toBe(0)
    expect(nobody.stderr).toContain("no sandbox named or with id 'no-such-sandbox'")

    const all = records()
    const snapshotted = all.filter((r) => r.type === "WorkspaceSnapshotted")
    const rolledBack = all.filter((r) => r.type === "WorkspaceRolledBack")
    expect(snapshotted.length).toBe(2)
    expect(snapshotted[0]).toMatchObject({ stream: expect.stringMatching(/^host-/), actor: { kind: "operator" }, data: { sandboxId, snapshotId: snap.snapshotId, contentHash: snap.contentHash } })
    expect(rolledBack.map((r) => r.data)).toEqual([{ sandboxId, snapshotId: snap.snapshotId, contentHash: snap.contentHash }])
    // Refused rollbacks record nothing; the snapshot came before the rollback in the chain.
    expect(rolledBack[0].chain.seq).toBeGreaterThan(snapshotted[0].chain.seq)

    expect((await hv("stop", name)).code).toBe(0)
    const whileStopped = await hv("snapshot", name, "--json")
    expect(whileStopped.code, whileStopped.stderr).toBe(0)
    expect((await hv("destroy", name)).code).toBe(0)
    const afterDestroy = await hv("snapshot", sandboxId, "--list", "--json")
    expect(afterDestroy.code).toBe(0)
    expect(JSON.parse(afterDestroy.stdout).every((s: { available: boolean }) => !s.available)).toBe(true)
    const verified = await hv("audit", "verify", "--full", "--json")
    expect(verified.code, verified.stderr).toBe(0)
    expect(JSON.parse(verified.stdout).ok).toBe(true)
  }, 400_000)
})

describe("a runner without snapshot support", () => {
  it("refuses snapshot and rollback with one clear line and records nothing", async () => {
    const { env, hv, records } = session()
    process.env["HYDRAVISOR_RUNTIME_DIR"] = env.HYDRAVISOR_RUNTIME_DIR
    const withoutSnapshots = Layer.effect(Runner, Effect.map(Runner, (r): Runner => ({ ...r, capabilities: { ...r.capabilities, snapshot: false } }))).pipe(Layer.provide(bwrapLayer()))
    const options = { dataDir: env.HYDRAVISOR_DATA_DIR, config: defaultConfig, ledger: {}, log: () => {} }
    const daemon = Effect.runFork(
      startDaemon(options).pipe(Effect.zipRight(Effect.never), Effect.scoped, Effect.provide(daemonLayer(options, { runner: withoutSnapshots })))
    )
    try {
      for (let i = 0; i < 200 && !existsSync(socketPath(env.HYDRAVISOR_DATA_DIR)); i++) await new Promise((r) => setTimeout(r, 50))
      expect((await hv("launch", "--template", "research-env", "--name", "plain")).code).toBe(0)
      const refused = await hv("snapshot", "plain")
      expect(refused.code).toBe(1)
      expect(refused.stderr.trim()).toBe("hydravisor: sandbox plain: the bwrap runner does not support snapshots")
      const rollback = await hv("rollback", "plain", "--to", "snap-0123456789ab")
      expect(rollback.stderr).toContain("does not support snapshots")
      expect(records().filter((r) => r.type.startsWith("Workspace"))).toEqual([])
    } finally {
      expect(Exit.isInterrupted(await Effect.runPromise(Fiber.interrupt(daemon)))).toBe(true)
    }
  }, 120_000)
})
