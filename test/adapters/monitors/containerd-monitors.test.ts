// The three monitors (files, processes, network) against real containerd sandboxes (runc, the cached
// minbase test image), a real bpftrace and a real SQLite ledger: the same targets the daemon builds
// from a containerd handle — its workspace, its tracking cgroup and its init's pid — see what happens
// inside that container and nothing else.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Stream } from "effect"
import type { Scope } from "effect"
import { spawn } from "node:child_process"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll } from "vitest"
import { blobsDir, makeBlobStore } from "../../../src/adapters/blobs/blob-store.js"
import { Ledger } from "../../../src/adapters/ledger/ledger.js"
import { makeFileMonitor } from "../../../src/adapters/monitors/files/file-monitor.js"
import { ledgerSink } from "../../../src/adapters/monitors/ledger-sink.js"
import type { MonitorTarget } from "../../../src/adapters/monitors/monitor.js"
import { make as networkMonitor } from "../../../src/adapters/monitors/network/network-monitor.js"
import { BPFTRACE_MECHANISM, makeProcessMonitor } from "../../../src/adapters/monitors/processes/process-monitor.js"
import { EventStore } from "../../../src/adapters/store/event-store.js"
import { decodeEventData } from "../../../src/domain/events/catalogue.js"
import { observationStream } from "../../../src/domain/monitors/monitor-events.js"
import type { Network } from "../../../src/domain/sandbox/template.js"
import { make as containerdRunner } from "../../../src/runners/containerd/containerd-runner.js"
import type { RunnerError } from "../../../src/runners/errors.js"
import type { ExecResult, Runner, SandboxHandle, SandboxSpec } from "../../../src/runners/runner.js"
import { startContainerd, TEST_CONTAINERD, testImage } from "../../runners/containerd/fixture.js"
import { ledgerLayer } from "../../support/ledger-fixture.js"
import { openWorld } from "./network/world.js"
import type { World } from "./network/world.js"

let rootfs = ""
let world: World
beforeAll(async () => {
  startContainerd()
  rootfs = (await testImage()).rootfs
  world = await openWorld()
}, 600_000)
afterAll(async () => {
  await world.close()
})

const TIMEOUT = 60_000

interface Observed {
  readonly type: string
  readonly data: Record<string, unknown>
}

interface Container {
  readonly handle: SandboxHandle
  readonly spec: SandboxSpec
  readonly target: MonitorTarget
  readonly sh: (script: string) => Effect.Effect<ExecResult, RunnerError>
  readonly bash: (script: string) => Effect.Effect<ExecResult, RunnerError>
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")
const out = (result: ExecResult) => text(result.stdout)
const sha256 = (content: string | Buffer) => createHash("sha256").update(content).digest("hex")

/** A data dir with the SQLite ledger in it; the body's scope (the monitors') closes before the ledger's. */
const withLedger = <A>(body: (dir: string) => Effect.Effect<A, unknown, Scope.Scope | Ledger | EventStore>) =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "hv-ctr-monitors-"))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    )
    return yield* Effect.scoped(body(dir)).pipe(Effect.provide(Layer.fresh(ledgerLayer(dir))))
  })

/** A running container, destroyed with the scope, and the monitor target the daemon would build from its handle. */
const container = (runner: Runner, dir: string, label: string, network: Network = { mode: "none" }) =>
  Effect.gen(function* () {
    const id = `m-${label}-${randomBytes(4).toString("hex")}`
    const spec: SandboxSpec = {
      id,
      hostname: id,
      workspaceDir: path.join(dir, "workspaces", id),
      stateDir: path.join(dir, "state", id),
      rootfs: { kind: "image", path: rootfs },
      resources: { cpuCores: 1, memoryMb: 256, pids: 128 },
      network: network.mode,
      env: {}
    }
    const created = yield* Effect.acquireRelease(runner.create(spec), (h) => runner.destroy(h).pipe(Effect.orDie))
    const handle = yield* runner.start(created)
    const target: MonitorTarget = {
      sandboxId: id,
      runner: "containerd",
      workspaceDir: spec.workspaceDir,
      stateDir: path.join(dir, "monitors", id),
      cgroup: handle.cgroup,
      pid: handle.pid ?? -1,
      network
    }
    const run = (shell: string) => (script: string) => runner.exec(handle, { argv: [shell, "-c", script], timeoutMs: 20_000 })
    const result: Container = { handle, spec, target, sh: run("/bin/sh"), bash: run("/bin/bash") }
    return result
  })

/** The sandbox's observations stream, every payload decoded with the event catalogue. */
const observations = (sandboxId: string) =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const records = yield* Stream.runCollect(store.readStream(observationStream(sandboxId)))
    return [...records].map(({ record }): Observed => {
      const decoded = decodeEventData(record.type, record.data)
      if (Either.isLeft(decoded)) throw new Error(`${record.type} does not decode: ${decoded.left.message}`)
      // decoded: sealed (sensitive) fields such as argv come back readable
      return { type: record.type, data: decoded.right as Record<string, unknown> }
    })
  })

const ofType = (events: ReadonlyArray<Observed>, type: string) => events.filter((e) => e.type === type).map((e) => e.data)

/** Runs /bin/echo `marker` on the host, outside every sandbox. */
const hostEcho = (marker: string) =>
  Effect.async<void>((resume) => {
    spawn("/bin/echo", [marker], { stdio: "ignore" }).on("exit", () => resume(Effect.void))
  })

/**
 * An HTTP GET through the proxy named by $HTTP_PROXY, with bash's /dev/tcp (the minbase image has no
 * curl): what any proxy-aware client does with the variables the runner sets.
 */
const viaProxy = (url: string) => {
  const authority = new URL(url).host
  return [
    'p=${HTTP_PROXY#http://}; p=${p%/}',
    'exec 3<>"/dev/tcp/${p%:*}/${p##*:}" || exit 90',
    `printf 'GET ${url} HTTP/1.1\\r\\nHost: ${authority}\\r\\nConnection: close\\r\\n\\r\\n' >&3`,
    "cat <&3"
  ].join("\n")
}

describe("monitors on containerd sandboxes", () => {
  it.scopedLive("files: a file the container writes is recorded with the hash of its content", () =>
    withLedger((dir) =>
      Effect.gen(function* () {
        const runner = yield* containerdRunner(TEST_CONTAINERD)
        const ctr = yield* container(runner, dir, "files")
        const ledger = yield* Ledger
        const content = `written inside ${ctr.spec.id}\n`
        const written = yield* Effect.scoped(
          Effect.gen(function* () {
            const monitor = yield* makeFileMonitor({ blobs: makeBlobStore(blobsDir(dir)) }).start(ctr.target, ledgerSink(ledger, ctr.spec.id, "files"))
            const result = yield* ctr.sh(`mkdir -p notes && printf '%s\\n' 'written inside ${ctr.spec.id}' > notes/inside.txt && id -u`)
            yield* monitor.flush
            return result
          })
        )
        expect(written.exitCode).toBe(0)
        const file = path.join(ctr.spec.workspaceDir, "notes", "inside.txt")
        // written by the container's user, not by anything on the host
        expect(fs.statSync(file).uid).toBe(Number(out(written).trim()))
        expect(fs.readFileSync(file, "utf8")).toBe(content)
        const events = yield* observations(ctr.spec.id)
        const changes = ofType(events, "FileChanged")
        const last = changes.filter((c) => c["path"] === "notes/inside.txt").at(-1)
        expect(last).toMatchObject({ sandboxId: ctr.spec.id, sha256: sha256(content), size: Buffer.byteLength(content) })
        expect(["created", "modified"]).toContain(last?.["change"])
        expect(changes.some((c) => c["path"] === "notes/")).toBe(true)
        expect(events[0]?.type).toBe("MonitorStarted")
        expect(events.at(-1)?.type).toBe("MonitorStopped")
        expect(ofType(events, "MonitorGap")).toEqual([])
      })
    ), TIMEOUT)

  it.scopedLive("processes: an exec'd program is recorded with its argv in its own container, never the host's or another container's", () =>
    withLedger((dir) =>
      Effect.gen(function* () {
        const runner = yield* containerdRunner(TEST_CONTAINERD)
        const [watched, other] = [yield* container(runner, dir, "procs"), yield* container(runner, dir, "other")]
        const ledger = yield* Ledger
        const marker = `marker-${randomBytes(4).toString("hex")}`
        const script = `/bin/echo ${marker} watched; /bin/sleep 1; echo after`
        const monitor = makeProcessMonitor({ mechanism: "bpftrace" })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const running = yield* monitor.start(watched.target, ledgerSink(ledger, watched.spec.id, "processes"))
            expect(out(yield* watched.sh(script))).toBe(`${marker} watched\nafter\n`)
            expect(out(yield* other.sh(`/bin/echo ${marker} other`))).toBe(`${marker} other\n`)
            yield* hostEcho(marker)
            yield* running.flush
          })
        )
        const events = yield* observations(watched.spec.id)
        expect(events[0]?.data["mechanism"]).toBe(BPFTRACE_MECHANISM)
        const started = ofType(events, "ProcessStarted")
        const argvs = started.map((e) => e["argv"] as ReadonlyArray<string>)
        // the exec itself: runc runs the runner's env wrapper, which runs the shell asked for, which runs echo
        expect(argvs).toContainEqual(["/usr/bin/env", "-C", "/workspace", "--", "/bin/sh", "-c", script])
        expect(argvs).toContainEqual(["/bin/sh", "-c", script])
        // the same program with the same marker ran on the host and in the other container: only this one is here
        expect(argvs.filter((argv) => argv.includes(marker))).toEqual([["/bin/echo", marker, "watched"]])
        const echo = started.find((e) => JSON.stringify(e["argv"]) === JSON.stringify(["/bin/echo", marker, "watched"]))!
        // seen from the container's pid namespace (small pids), as the container's user, in its cgroup
        expect(echo["nsPid"]).toBeGreaterThan(1)
        expect(echo["nsPid"]).toBeLessThan(1000)
        expect(echo["pid"]).not.toBe(echo["nsPid"])
        expect(echo["uid"]).toBe(fs.statSync(watched.spec.workspaceDir).uid)
        // cwd is read from /proc when the exec is seen: a process that lives a moment has it
        const sleep = started.find((e) => JSON.stringify(e["argv"]) === JSON.stringify(["/bin/sleep", "1"]))
        expect(sleep).toMatchObject({ cwd: "/workspace", ppid: echo["ppid"] })
        expect(echo["cgroupId"]).toBe(String(fs.statSync(watched.handle.cgroup).ino))
        // nothing of the host (containerd, the shim, runc itself, the host's echo) is attributed to it
        for (const e of started) {
          expect(e["sandboxId"]).toBe(watched.spec.id)
          expect(e["uid"]).toBe(echo["uid"])
          expect(e["cgroupId"]).toBe(echo["cgroupId"])
        }
        expect(argvs.some((argv) => (argv[0] ?? "").includes("runc") || (argv[0] ?? "").includes("containerd"))).toBe(false)
        const exited = ofType(events, "ProcessExited").find((e) => e["pid"] === echo["pid"])
        expect(exited).toMatchObject({ exitCode: 0, signal: null })
        expect(ofType(events, "MonitorGap")).toEqual([])
      })
    ), TIMEOUT)

  it.scopedLive("network (allowlist): an allowed endpoint is reached through the proxy, a denied one is refused, a raw connect is traced; all recorded", () =>
    withLedger((dir) =>
      Effect.gen(function* () {
        const runner = yield* containerdRunner(TEST_CONTAINERD)
        const network: Network = { mode: "allowlist", allowlist: [{ host: world.remote, port: 8080 }, { host: "*.svc.test" }] }
        const ctr = yield* container(runner, dir, "net", network)
        const ledger = yield* Ledger
        const results = yield* Effect.scoped(
          Effect.gen(function* () {
            const monitor = yield* networkMonitor({ syscallTrace: "required", hosts: { "api.svc.test": [world.remote] } }).start(
              ctr.target,
              ledgerSink(ledger, ctr.spec.id, "network")
            )
            const allowed = yield* ctr.bash(viaProxy(`http://${world.remote}:8080/allowed`))
            const denied = yield* ctr.bash(viaProxy(`http://${world.remote}:8081/denied`))
            const byName = yield* ctr.bash(viaProxy("http://api.svc.test:8081/by-name"))
            const lookup = yield* ctr.sh("getent hosts api.svc.test")
            const refusedName = yield* ctr.sh("getent hosts elsewhere.example")
            const raw = yield* ctr.bash(`exec 3<>/dev/tcp/${world.remote}/8080 && echo connected`)
            const loopback = yield* ctr.bash(viaProxy(`http://127.0.0.1:${world.loopbackPort}/secret`))
            // bpftrace reports connect() a little after it returns
            for (let i = 0; i < 100; i++) {
              yield* monitor.flush
              if ((yield* observations(ctr.spec.id)).some((o) => o.data["via"] === "syscall")) break
              yield* Effect.sleep("100 millis")
            }
            return { allowed, denied, byName, lookup, refusedName, raw, loopback }
          })
        )
        expect(out(results.allowed)).toMatch(/^HTTP\/1\.1 200 /)
        expect(out(results.allowed)).toContain("world-ok 8080 /allowed\n")
        expect(out(results.denied)).toMatch(/^HTTP\/1\.1 403 /)
        expect(out(results.denied)).not.toContain("world-ok")
        expect(out(results.byName)).toContain("world-ok 8081 /by-name\n")
        // the bound resolv.conf sends lookups to the DNS filter in the container's namespace
        expect(out(results.lookup)).toMatch(new RegExp(`^${world.remote.replaceAll(".", "\\.")}\\s+api\\.svc\\.test`))
        expect(results.refusedName.exitCode).not.toBe(0)
        expect(results.raw.exitCode).not.toBe(0)
        expect(out(results.raw)).not.toContain("connected")
        expect(out(results.loopback)).not.toContain("host-secret")
        expect(world.loopbackHits()).toBe(0)

        const events = yield* observations(ctr.spec.id)
        const attempts = ofType(events, "ConnectionAttempted")
        expect(attempts).toContainEqual(expect.objectContaining({ via: "proxy", address: world.remote, port: 8080, decision: "allowed", rule: `${world.remote}:8080` }))
        const allowed = attempts.find((a) => a["via"] === "proxy" && a["port"] === 8080 && a["decision"] === "allowed")!
        expect(allowed["bytesReceived"]).toBeGreaterThan(20)
        expect(attempts).toContainEqual(expect.objectContaining({ via: "proxy", address: world.remote, port: 8081, host: null, decision: "denied", rule: "not in allowlist" }))
        expect(attempts).toContainEqual(expect.objectContaining({ via: "proxy", host: "api.svc.test", port: 8081, decision: "allowed", rule: "*.svc.test" }))
        expect(attempts).toContainEqual(expect.objectContaining({ via: "dns", host: "api.svc.test", decision: "allowed" }))
        expect(attempts).toContainEqual(expect.objectContaining({ via: "dns", host: "elsewhere.example", decision: "denied" }))
        expect(attempts).toContainEqual(expect.objectContaining({ via: "proxy", address: "127.0.0.1", port: world.loopbackPort, decision: "denied" }))
        const raw = attempts.find((a) => a["via"] === "syscall")
        expect(raw).toMatchObject({ address: world.remote, port: 8080, decision: "denied", protocol: "tcp" })
        expect(raw?.["pid"]).toBeGreaterThan(1)
        expect(attempts.every((a) => a["sandboxId"] === ctr.spec.id)).toBe(true)
        expect(events[0]?.type).toBe("MonitorStarted")
        expect(String(events[0]?.data["mechanism"])).toContain("mode allowlist")
        expect(events.at(-1)?.type).toBe("MonitorStopped")
      })
    ), TIMEOUT)
})
