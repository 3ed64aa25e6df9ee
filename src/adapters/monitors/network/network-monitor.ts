// The network monitor and egress control for one sandbox: the proxy and DNS filter listening inside
// the sandbox's network namespace (sockets held here, on the host), and bpftrace recording the raw
// connect() calls that go around them. Every attempt becomes a ConnectionAttempted (see README.md).
import { Effect } from "effect"
import type * as net from "node:net"
import { ConnectionAttempted, MonitorStarted, MonitorStopped } from "../../../domain/monitors/monitor-events.js"
import type { NewEvent } from "../../../domain/ledger/event-definition.js"
import { MonitorUnavailable } from "../monitor.js"
import type { Monitor, MonitorTarget, ObservationSink, RunningMonitor } from "../monitor.js"
import { formatIp } from "./address.js"
import { serveDnsTcp, serveDnsUdp } from "./dns-filter.js"
import { makeEgressContext } from "./egress-context.js"
import type { ConnectionObservation } from "./egress-context.js"
import { serveProxyConnection } from "./egress-proxy.js"
import { openNetnsListeners } from "./netns-listeners.js"
import { makeRecorder } from "./recorder.js"
import { describeAttempt, isOwnLoopback, makeConnectTracer, MECHANISM, type ConnectTracer } from "./syscall-trace.js"

export const PROXY_PORT = 3128
export const DNS_PORT = 53

export interface NetworkMonitorOptions {
  /** Names pinned to addresses (looked up before, and instead of, the system resolver). */
  readonly hosts?: Readonly<Record<string, ReadonlyArray<string>>>
  readonly proxyPort?: number
  readonly dnsPort?: number
  /** `required`: refuse to start without connect() tracing; `best-effort` (default): start and name the blind spot. */
  readonly syscallTrace?: "required" | "best-effort"
  readonly bpftrace?: string
  readonly connectTimeoutMs?: number
}

export const BLIND_SPOTS: ReadonlyArray<string> = [
  "UDP datagrams sent with sendto()/sendmsg() without connect() are not traced (they cannot leave: the sandbox has no route)",
  "connections to the sandbox's own loopback are not recorded as syscalls (the proxy and DNS filter record what reaches them)",
  "processes that unshare both a new pid and a new network namespace inside the sandbox are not traced",
  "a kept-alive proxied HTTP connection is decided once: later requests on it go to the same admitted address"
]

const connectionEvent = (observation: ConnectionObservation): NewEvent => ({ type: ConnectionAttempted.type, data: observation })

/** Waits until every socket in `live` has closed (after destroying them), at most 2 s. */
const closeAll = (live: Set<net.Socket>) =>
  Effect.promise(() => {
    const sockets = [...live]
    const closed = sockets.map((socket) => (socket.closed ? Promise.resolve() : new Promise<void>((resolve) => socket.once("close", () => resolve()))))
    for (const socket of sockets) socket.destroy()
    return Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, 2000))])
  })

export interface NetworkMonitor extends Monitor {
  /** The connect() tracer shared by every sandbox this monitor watches (tests read its pid). */
  readonly connects: ConnectTracer
}

export const make = (options: NetworkMonitorOptions = {}): NetworkMonitor => {
  const connects = makeConnectTracer(options.bpftrace)
  return {
    kind: "network",
    connects,
    start: (target: MonitorTarget, sink: ObservationSink) =>
      Effect.gen(function* () {
        const recorder = yield* makeRecorder(sink, { sandboxId: target.sandboxId, monitor: "network" })
        let started = false
        // bounded: a sink that no longer answers must not hold up the daemon's shutdown
        yield* Effect.addFinalizer(() =>
          Effect.gen(function* () {
            if (!started) return
            yield* recorder.drain
            yield* sink
              .append([{ type: MonitorStopped.type, data: { sandboxId: target.sandboxId, monitor: "network", reason: "monitor stopped", observed: recorder.observed() } }])
              .pipe(Effect.ignore)
          }).pipe(Effect.timeout("10 seconds"), Effect.ignore)
        )
        const ctx = makeEgressContext({
          sandboxId: target.sandboxId,
          network: target.network,
          hosts: options.hosts ?? {},
          record: (observation) => recorder.push(connectionEvent(observation)),
          ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
          networkMbps: target.networkMbps ?? null
        })
        const proxyPort = options.proxyPort ?? PROXY_PORT
        const dnsPort = options.dnsPort ?? DNS_PORT
        const listeners = yield* openNetnsListeners(target.pid, { proxy: proxyPort, dns: dnsPort })
        const live = new Set<net.Socket>()
        listeners.proxy.on("connection", (socket: net.Socket) => serveProxyConnection(ctx, socket, live))
        listeners.dnsTcp.on("connection", (socket: net.Socket) => serveDnsTcp(ctx, socket, live))
        listeners.proxy.on("error", () => undefined)
        listeners.dnsTcp.on("error", () => undefined)
        serveDnsUdp(ctx, listeners.dnsUdp)
        yield* Effect.addFinalizer(() => closeAll(live))

        const trace = yield* Effect.either(
          connects.subscribe(
            target.pid,
            {
              onConnect: (attempt) => {
                if (isOwnLoopback(attempt.address)) return
                recorder.push(
                  connectionEvent({
                    sandboxId: target.sandboxId,
                    protocol: "tcp",
                    host: null,
                    address: formatIp(attempt.address),
                    port: attempt.port,
                    decision: "denied",
                    rule: "outside the proxy",
                    reason: describeAttempt(attempt),
                    via: "syscall",
                    bytesSent: null,
                    bytesReceived: null,
                    pid: attempt.pid
                  })
                )
              },
              onGap: (gap) => recorder.push({ type: "MonitorGap", data: { sandboxId: target.sandboxId, monitor: "network", ...gap } })
            }
          )
        )
        if (trace._tag === "Left" && options.syscallTrace === "required") {
          return yield* Effect.fail(new MonitorUnavailable({ monitor: "network", reason: `connect() tracing: ${trace.left}` }))
        }
        const blindSpots = trace._tag === "Left" ? [`raw connect() attempts are not recorded: ${trace.left}`, ...BLIND_SPOTS] : BLIND_SPOTS
        const mechanism = `egress proxy 127.0.0.1:${proxyPort} and DNS filter 127.0.0.1:${dnsPort} inside the sandbox's network namespace (sockets held by the daemon, mode ${target.network.mode}${target.networkMbps === undefined ? "" : `, at most ${target.networkMbps} Mbit/s each way`})${trace._tag === "Right" ? `; ${MECHANISM}` : ""}`
        yield* sink
          .append([{ type: MonitorStarted.type, data: { sandboxId: target.sandboxId, monitor: "network", mechanism, blindSpots } }])
          .pipe(Effect.mapError((error) => new MonitorUnavailable({ monitor: "network", reason: error.message })))
        started = true
        yield* recorder.run
        const running: RunningMonitor = { kind: "network", flush: recorder.drain, observed: Effect.sync(recorder.observed) }
        return running
      })
  }
}
