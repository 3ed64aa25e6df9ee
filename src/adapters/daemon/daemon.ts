// `hydravisor serve`: the one long-running process. It owns the ledger writer and the runners,
// reconciles what it finds on start, answers the CLI on its socket, and on SIGTERM stops every
// sandbox (recorded) before it exits.
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, Either, Layer } from "effect"
import { findTemplate, loadTemplates } from "../config/load-templates.js"
import type { Config } from "../../domain/config/config.js"
import type { Actor } from "../../domain/ledger/record.js"
import { sensitiveFields } from "../../domain/events/catalogue.js"
import { LedgerLive, type LedgerOptions } from "../ledger/ledger.js"
import { SqliteStoreLive } from "../store/sqlite/sqlite-store.js"
import { storeLayer } from "../store/copy.js"
import { SandboxService, SandboxServiceLive, DAEMON, type SandboxServiceShape } from "../sandbox/sandbox-service.js"
import { layer as bwrapRunnerLayer } from "../../runners/bwrap/bwrap-runner.js"
import { layer as containerdRunnerLayer } from "../../runners/containerd/containerd-runner.js"
import { registryLayer } from "../../runners/runner-registry.js"
import { Ledger } from "../ledger/ledger.js"
import { Runner } from "../../runners/runner.js"
import { EventStore } from "../store/event-store.js"
import { makeSnapshots, operatorRecording, type Snapshots } from "../sandbox/snapshots.js"
import { defaultMonitors } from "../monitors/default-monitors.js"
import { EnforcerLive, optionalEnforcer } from "../enforcement/enforcer.js"
import type { Monitor } from "../monitors/monitor.js"
import { monitorHooksLayer } from "../monitors/monitor-manager.js"
import type { DaemonRequest } from "./protocol.js"
import { serveSocket } from "./server.js"
import { applyPolicy, decodePolicyDocument, PolicyRejected, type PolicyWriter } from "../policy/policy-store.js"
import { socketPath } from "./paths.js"
import { join } from "node:path"

export interface DaemonOptions {
  readonly dataDir: string
  readonly config: Config
  readonly ledger: Partial<LedgerOptions>
  readonly log: (line: string) => void
}

const toBase64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64")

/** Turns one decoded request into a call of the sandbox service. */
export const dispatch = (service: SandboxServiceShape, config: Config, snapshots: Snapshots, writerId: string, policies?: PolicyWriter) => (request: DaemonRequest, operator: string) => {
  const actor: Actor = { kind: "operator", id: operator }
  switch (request._tag) {
    case "Ping":
      return Effect.succeed({ pong: true, pid: process.pid })
    case "Launch":
      return Effect.gen(function* () {
        const catalog = yield* loadTemplates({ userDir: config.environments.templates_dir }).pipe(Effect.provide(NodeFileSystem.layer))
        const found = findTemplate(catalog, request.template)
        if (Either.isLeft(found)) return yield* Effect.fail(found.left)
        const template = found.right.template
        const resources =
          request.cpuCores !== undefined || request.memoryMb !== undefined
            ? { ...template.resources, ...(request.cpuCores !== undefined ? { cpu_cores: request.cpuCores } : {}), ...(request.memoryMb !== undefined ? { memory_mb: request.memoryMb } : {}) }
            : undefined
        return yield* service.launch({
          template,
          name: request.name,
          actor,
          ...(request.policy !== undefined ? { policy: request.policy } : {}),
          ...(resources ? { resources } : {}),
          ...(request.networkIsolated ? { network: { mode: "none" as const } } : {}),
          ...(request.agent !== undefined ? { agent: request.agent } : {})
        })
      })
    case "Exec":
      return service
        .exec(
          request.sandbox,
          {
            argv: request.argv,
            ...(request.cwd !== undefined ? { cwd: request.cwd } : {}),
            ...(request.env !== undefined ? { env: request.env } : {}),
            ...(request.stdinBase64 !== undefined ? { stdin: Buffer.from(request.stdinBase64, "base64") } : {}),
            ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {})
          },
          actor
        )
        .pipe(
          Effect.map((o) => ({
            sandboxId: o.sandboxId,
            recordId: o.recordId,
            exitCode: o.exitCode,
            signal: o.signal,
            durationMs: o.durationMs,
            timedOut: o.timedOut,
            oomKilled: o.oomKilled,
            limitsHit: o.limitsHit,
            stdout: o.stdoutRef,
            stderr: o.stderrRef,
            stdoutBase64: toBase64(o.stdout),
            stderrBase64: toBase64(o.stderr)
          }))
        )
    case "List":
      return service.list()
    case "Inspect":
      return service.inspect(request.sandbox)
    case "Pause":
      return service.pause(request.sandbox, actor)
    case "Resume":
      return service.resume(request.sandbox, actor)
    case "Stop":
      return service.stop(request.sandbox, request.reason ?? `stopped by ${operator}`, actor)
    case "Destroy":
      return service.destroy(request.sandbox, actor)
    case "Snapshot":
      return Effect.flatMap(service.inspect(request.sandbox), (view) => snapshots.take(view, operatorRecording(writerId, actor)))
    case "Snapshots":
      return Effect.flatMap(service.inspect(request.sandbox), snapshots.list)
    case "Rollback":
      return Effect.flatMap(service.inspect(request.sandbox), (view) => snapshots.rollback(view, request.snapshotId, operatorRecording(writerId, actor)))
    case "ApplyPolicy":
      return policies === undefined
        ? Effect.fail(new PolicyRejected({ name: "?", reason: "this daemon does not apply policies" }))
        : Effect.flatMap(decodePolicyDocument(request.document), (document) => applyPolicy(policies.ledger, policies.store, document, request.source, actor))
  }
}

/** Pieces a variant of the daemon (MCP) replaces: the runner, and a layer in front of the ledger writer. */
export interface DaemonParts {
  readonly runner?: Layer.Layer<Runner>
  readonly frontLedger?: <E>(writer: Layer.Layer<Ledger, E>) => Layer.Layer<Ledger, E>
  /** The monitors every running sandbox gets; `defaultMonitors` when left out. */
  readonly monitors?: ReadonlyArray<Monitor>
}

export const daemonLayer = (options: DaemonOptions, parts: DaemonParts = {}) => {
  const { store: storeConfig } = options.config
  const store =
    storeConfig.kind === "eventstoredb" && storeConfig.connection !== undefined
      ? storeLayer({ kind: "eventstoredb", connection: storeConfig.connection })
      : SqliteStoreLive({ file: storeConfig.connection ?? join(options.dataDir, "ledger.db") })
  const writer = LedgerLive({ dataDir: options.dataDir, sensitiveFields, ...options.ledger }).pipe(Layer.provide(store))
  const ledger = parts.frontLedger ? parts.frontLedger(writer) : writer
  const runners = parts.runner ?? registryLayer([
    ["bwrap", bwrapRunnerLayer()],
    ["containerd", containerdRunnerLayer()]
  ])
  const base = Layer.mergeAll(store, ledger, runners)
  const enforcer = EnforcerLive({ log: options.log }).pipe(Layer.provide(base))
  const hooks = monitorHooksLayer({ dataDir: options.dataDir, monitors: parts.monitors ?? defaultMonitors(options.dataDir), log: options.log }).pipe(
    Layer.provide(Layer.merge(base, enforcer))
  )
  return SandboxServiceLive({ dataDir: options.dataDir, security: options.config.security }).pipe(
    Layer.provide(hooks),
    Layer.provideMerge(Layer.merge(base, enforcer))
  )
}

/** What every daemon does on start: reconcile, stop every sandbox when its scope closes, answer the CLI. */
export const startDaemon = (options: DaemonOptions) =>
  Effect.gen(function* () {
    const service = yield* SandboxService
    // The policy engine stops and pauses sandboxes through the service; it exists once the service does.
    const enforcer = yield* optionalEnforcer
    if (enforcer !== null) yield* enforcer.attach(service)
    const report = yield* service.reconcile(DAEMON)
    options.log(`reconciled: ${report.alive.length} alive, ${report.dead.length} found dead, ${report.interrupted.length} interrupted`)
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => options.log("shutting down: stopping every sandbox")).pipe(
        Effect.zipRight(service.stopAll("daemon shutting down", DAEMON)),
        Effect.tap((stopped) => Effect.sync(() => options.log(`stopped ${stopped.length} sandbox(es); exiting`))),
        Effect.ignore
      )
    )
    const ledger = yield* Ledger
    const snapshots = makeSnapshots({ runner: yield* Runner, ledger, store: yield* EventStore, dataDir: options.dataDir })
    const socket = socketPath(options.dataDir)
    yield* serveSocket(socket, dispatch(service, options.config, snapshots, ledger.writerId, { ledger, store: yield* EventStore }))
    return { service, socket }
  })

/** Runs the daemon until interrupted (SIGTERM/SIGINT through the runtime). */
export const runDaemon = (options: DaemonOptions) =>
  Effect.gen(function* () {
    const { socket } = yield* startDaemon(options)
    options.log(`hydravisor daemon ${process.pid} listening on ${socket} (data dir ${options.dataDir})`)
    return yield* Effect.never
  })
