// The network monitor against a real bwrap sandbox, a real bpftrace and a real SQLite ledger: what
// the egress proxy, the DNS filter and the connect() trace let through, refuse and record, per mode.
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Layer, Stream } from "effect"
import type { Scope } from "effect"
import { afterAll, beforeAll } from "vitest"
import { Ledger } from "../../../../src/adapters/ledger/ledger.js"
import { ledgerSink } from "../../../../src/adapters/monitors/ledger-sink.js"
import { make as networkMonitor } from "../../../../src/adapters/monitors/network/network-monitor.js"
import type { NetworkMonitor, NetworkMonitorOptions } from "../../../../src/adapters/monitors/network/network-monitor.js"
import { EventStore } from "../../../../src/adapters/store/event-store.js"
import { decodeEventData } from "../../../../src/domain/events/catalogue.js"
import { observationStream } from "../../../../src/domain/monitors/monitor-events.js"
import type { Network } from "../../../../src/domain/sandbox/template.js"
import { dataDir, launchSandbox, out, testRunner } from "../../../runners/bwrap/sandbox-fixture.js"
import type { TestSandbox } from "../../../runners/bwrap/sandbox-fixture.js"
import { ledgerLayer } from "../../../support/ledger-fixture.js"
import { monitorTargetOf } from "../monitor-target.js"
import { openWorld } from "./world.js"
import type { World } from "./world.js"

let world: World
beforeAll(async () => {
  world = await openWorld()
}, 30_000)
afterAll(async () => {
  await world.close()
})

interface Observed {
  readonly type: string
  readonly data: Record<string, unknown>
}

interface Monitored {
  readonly sandbox: TestSandbox
  /** Every observation so far (after a flush), each checked to decode with the event catalogue. */
  readonly observed: Effect.Effect<ReadonlyArray<Observed>>
  /** Polls until `match` finds an observation (bpftrace reports a little later than the syscall). */
  readonly waitFor: (match: (o: Observed) => boolean, what: string) => Effect.Effect<Observed>
}

const monitored = (
  network: Network,
  options: NetworkMonitorOptions = {},
  networkMbps?: number,
  shared?: NetworkMonitor
): Effect.Effect<Monitored, unknown, Scope.Scope | Ledger | EventStore> =>
  Effect.gen(function* () {
    const ledger = yield* Ledger
    const store = yield* EventStore
    const runner = yield* testRunner
    const dir = yield* dataDir
    const sandbox = yield* launchSandbox(runner, dir, "net", { network: network.mode })
    const monitor = yield* (shared ?? networkMonitor({ syscallTrace: "required", ...options })).start(
      monitorTargetOf(sandbox, network, networkMbps),
      ledgerSink(ledger, sandbox.spec.id, "network")
    )
    const observed = Effect.gen(function* () {
      yield* monitor.flush
      const records = yield* Stream.runCollect(store.readStream(observationStream(sandbox.spec.id))).pipe(Effect.orDie)
      return [...records].map(({ record }) => {
        const decoded = decodeEventData(record.type, record.data)
        if (Either.isLeft(decoded)) throw new Error(`${record.type} does not decode: ${decoded.left.message}`)
        return { type: record.type, data: record.data as Record<string, unknown> }
      })
    })
    const waitFor = (match: (o: Observed) => boolean, what: string) =>
      Effect.gen(function* () {
        for (let i = 0; i < 100; i++) {
          const found = (yield* observed).find(match)
          if (found !== undefined) return found
          yield* Effect.sleep("100 millis")
        }
        const all = yield* observed
        throw new Error(`no observation ${what} within 10 s; saw ${JSON.stringify(all.map((o) => o.data), null, 1)}`)
      })
    return { sandbox, observed, waitFor }
  })

const withLedger = <A>(body: Effect.Effect<A, unknown, Scope.Scope | Ledger | EventStore>) =>
  Effect.gen(function* () {
    const dir = yield* dataDir
    // the monitor's scope closes before the ledger's, so MonitorStopped is still recorded
    return yield* Effect.scoped(body).pipe(Effect.provide(Layer.fresh(ledgerLayer(dir))))
  })

const attempt = (o: Observed) => (o.type === "ConnectionAttempted" ? o.data : null)
const is = (fields: Record<string, unknown>) => (o: Observed) => {
  const data = attempt(o)
  return data !== null && Object.entries(fields).every(([key, value]) => data[key] === value)
}

// curl with the sandbox's proxy variables; -f turns the proxy's 403 into a failure
const curl = (url: string, extra = "") => `curl -sS -f -m 10 ${extra} ${url}`
// getaddrinfo without AI_ADDRCONFIG (getent's ahosts sets it, and a sandbox with only lo then asks no one)
const lookup = (name: string) => `python3 -c 'import socket, sys; print(socket.gethostbyname(sys.argv[1]))' ${name}`

const allowlist = (w: World): Network => ({
  mode: "allowlist",
  allowlist: [{ host: w.remote, port: 8080 }, { host: "*.svc.test" }]
})
const hosts = (w: World) => ({ "api.svc.test": [w.remote], "sneaky.svc.test": ["127.0.0.1"] })

describe("network monitor (bwrap sandbox, real proxy, DNS filter and bpftrace)", () => {
  it.scopedLive("allowlist: an allowed address:port and an allowed name go through the proxy, a denied one does not; all recorded", () =>
    withLedger(
      Effect.gen(function* () {
        const { sandbox, observed, waitFor } = yield* monitored(allowlist(world), { hosts: hosts(world) })
        expect(out(yield* sandbox.sh(curl(`http://${world.remote}:8080/by-address`)))).toBe("world-ok 8080 /by-address\n")
        expect(out(yield* sandbox.sh(curl("http://api.svc.test:8081/by-name")))).toBe("world-ok 8081 /by-name\n")
        const denied = yield* sandbox.sh(curl(`http://${world.remote}:8081/not-listed`))
        expect(denied.exitCode).not.toBe(0)
        expect(out(denied)).not.toContain("world-ok")
        const byAddress = yield* waitFor(is({ via: "proxy", address: world.remote, port: 8080, decision: "allowed" }), "allowed by address")
        expect(byAddress.data).toMatchObject({ protocol: "http", host: null, rule: `${world.remote}:8080` })
        expect(byAddress.data["bytesReceived"]).toBeGreaterThan(20)
        expect(byAddress.data["bytesSent"]).toBeGreaterThan(20)
        const byName = yield* waitFor(is({ via: "proxy", host: "api.svc.test", decision: "allowed" }), "allowed by name")
        expect(byName.data).toMatchObject({ address: world.remote, port: 8081, rule: "*.svc.test" })
        const refused = yield* waitFor(is({ via: "proxy", port: 8081, host: null, decision: "denied" }), "denied by address")
        expect(refused.data).toMatchObject({ address: world.remote, rule: "not in allowlist" })
        const all = yield* observed
        expect(all[0]?.type).toBe("MonitorStarted")
        expect(all[0]?.data["blindSpots"]).not.toContainEqual(expect.stringContaining("raw connect() attempts are not recorded"))
      })
    ), 60_000)

  it.scopedLive("network_mbps: the proxy carries at most the limit each way, shared by all of the sandbox's connections", () =>
    withLedger(
      Effect.gen(function* () {
        const MB = 1_000_000
        // 4 Mbit/s is 500,000 bytes a second each way; the bucket starts with 64 KiB and one read may overdraw it
        const least = (MB - 2 * 64 * 1024) / 500_000
        // two downloads of half a megabyte at once: the sizes they got, then the seconds both took
        const halves = curl(`http://${world.remote}:8080/bytes/${MB / 2}`, "-m 30 -o /dev/null -w '%{size_download}\\n'")
        const download = `start=$(date +%s.%N); (${halves} & ${halves} & wait); end=$(date +%s.%N); echo "$start $end" | awk '{print $2 - $1}'`
        const downloaded = (text: string) => {
          const lines = text.trim().split("\n")
          return { sizes: lines.slice(0, 2), seconds: Number(lines[2]) }
        }
        // one upload of a megabyte: what the server got, and the seconds it took
        const upload = `head -c ${MB} /dev/zero > /workspace/up && ${curl(`http://${world.remote}:8080/up`, "-m 30 --data-binary @/workspace/up -w ' %{time_total}'")}`

        const free = yield* monitored(allowlist(world))
        const limited = yield* monitored(allowlist(world), {}, 4)
        const freeDown = downloaded(out(yield* free.sandbox.sh(download)))
        const limitedDown = downloaded(out(yield* limited.sandbox.sh(download)))
        expect(freeDown.sizes).toEqual([String(MB / 2), String(MB / 2)])
        expect(limitedDown.sizes).toEqual([String(MB / 2), String(MB / 2)])
        expect(limitedDown.seconds).toBeGreaterThanOrEqual(least)
        expect(freeDown.seconds).toBeLessThan(limitedDown.seconds / 2)

        const [got, bytes, seconds] = out(yield* limited.sandbox.sh(upload)).trim().split(/\s+/)
        expect([got, bytes]).toEqual(["world-got", String(MB)])
        expect(Number(seconds)).toBeGreaterThanOrEqual(least)

        // the limit is declared where the monitor says how it works, and the bytes are still counted
        const sent = yield* limited.waitFor((o) => attempt(o)?.["via"] === "proxy" && Number(attempt(o)?.["bytesSent"]) >= MB, "for the upload")
        expect(sent.data).toMatchObject({ address: world.remote, port: 8080, decision: "allowed" })
        const started = (yield* limited.observed).find((o) => o.type === "MonitorStarted")
        expect(started?.data["mechanism"]).toContain("at most 4 Mbit/s each way")
      })
    ), 90_000)

  it.scopedLive("none: a connection attempt is traced at connect() and recorded as denied", () =>
    withLedger(
      Effect.gen(function* () {
        const { sandbox, waitFor } = yield* monitored({ mode: "none" })
        const result = yield* sandbox.sh(curl(`http://${world.remote}:8080/none`))
        expect(result.exitCode).not.toBe(0)
        const seen = yield* waitFor(is({ via: "syscall", address: world.remote, port: 8080 }), "for the raw connect")
        expect(seen.data).toMatchObject({ decision: "denied", protocol: "tcp", host: null })
        expect(seen.data["pid"]).toBeGreaterThan(1)
        expect(seen.data["reason"]).toContain("ENETUNREACH")
      })
    ), 60_000)

  it.scopedLive("one connect() tracer for every sandbox a monitor watches: each attempt goes to its own sandbox, a restart is a gap for all", () =>
    withLedger(
      Effect.gen(function* () {
        const monitor = networkMonitor({ syscallTrace: "required" })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const a = yield* monitored({ mode: "none" }, {}, undefined, monitor)
            const tracer = monitor.connects.pid()
            expect(tracer).not.toBeNull()
            const b = yield* monitored({ mode: "none" }, {}, undefined, monitor)
            expect(monitor.connects.pid()).toBe(tracer)
            yield* a.sandbox.sh(curl(`http://${world.remote}:8080/a`))
            yield* b.sandbox.sh(curl(`http://${world.remote}:8081/b`))
            expect((yield* a.waitFor(is({ via: "syscall", port: 8080 }), "for a's connect")).data["address"]).toBe(world.remote)
            yield* b.waitFor(is({ via: "syscall", port: 8081 }), "for b's connect")
            expect((yield* a.observed).filter(is({ via: "syscall", port: 8081 }))).toEqual([])
            expect((yield* b.observed).filter(is({ via: "syscall", port: 8080 }))).toEqual([])
            // the shared bpftrace dies: both sandboxes are told of the gap, and tracing goes on
            process.kill(tracer!, "SIGKILL")
            const restarted = (o: Observed) => o.type === "MonitorGap" && String(o.data["reason"]).includes("restarted")
            yield* a.waitFor(restarted, "for the gap in a")
            yield* b.waitFor(restarted, "for the gap in b")
            expect(monitor.connects.pid()).not.toBe(tracer)
            yield* b.sandbox.sh(curl(`http://${world.remote}:8082/after`))
            yield* b.waitFor(is({ via: "syscall", port: 8082 }), "for a connect after the restart")
          })
        )
        // the last sandbox gone, the tracer stops
        expect(monitor.connects.pid()).toBeNull()
      })
    ), 90_000)

  describe("bypass attempts in allowlist mode: each denied and recorded", () => {
    it.scopedLive("plain HTTP through the proxy to a host not listed", () =>
      withLedger(
        Effect.gen(function* () {
          const { sandbox, waitFor } = yield* monitored(allowlist(world), { hosts: hosts(world) })
          const result = yield* sandbox.sh(curl("http://denied.example:8080/x") + " 2>&1")
          expect(result.exitCode).toBe(22)
          expect(out(result)).toContain("403")
          const seen = yield* waitFor(is({ via: "proxy", host: "denied.example" }), "for denied.example")
          expect(seen.data).toMatchObject({ protocol: "http", decision: "denied", rule: "not in allowlist", address: null, port: 8080 })
        })
      ), 60_000)

    it.scopedLive("HTTPS CONNECT to a host not listed", () =>
      withLedger(
        Effect.gen(function* () {
          const { sandbox, waitFor } = yield* monitored(allowlist(world), { hosts: hosts(world) })
          const result = yield* sandbox.sh(curl("https://denied.example/secret") + " 2>&1")
          expect(result.exitCode).not.toBe(0)
          expect(out(result)).toMatch(/403|CONNECT/)
          const seen = yield* waitFor(is({ via: "proxy", protocol: "https-connect" }), "for the CONNECT")
          expect(seen.data).toMatchObject({ host: "denied.example", port: 443, decision: "denied", rule: "not in allowlist" })
        })
      ), 60_000)

    it.scopedLive("a raw TCP connection that ignores the proxy (even to an allowed address:port)", () =>
      withLedger(
        Effect.gen(function* () {
          const { sandbox, waitFor } = yield* monitored(allowlist(world), { hosts: hosts(world) })
          const result = yield* sandbox.sh(curl(`http://${world.remote}:8080/raw`, "--noproxy '*'"))
          expect(result.exitCode).not.toBe(0)
          const seen = yield* waitFor(is({ via: "syscall", address: world.remote, port: 8080 }), "for the raw connect")
          expect(seen.data).toMatchObject({ decision: "denied", rule: "outside the proxy" })
        })
      ), 60_000)

    it.scopedLive("a DNS lookup of a name not listed is refused (an allowed one is answered)", () =>
      withLedger(
        Effect.gen(function* () {
          const { sandbox, waitFor } = yield* monitored(allowlist(world), { hosts: hosts(world) })
          const denied = yield* sandbox.sh(lookup("exfil-data.denied.example"))
          expect(denied.exitCode).not.toBe(0)
          expect(out(yield* sandbox.sh(lookup("api.svc.test")))).toContain(world.remote)
          const seen = yield* waitFor(is({ via: "dns", host: "exfil-data.denied.example" }), "for the denied lookup")
          expect(seen.data).toMatchObject({ protocol: "dns", decision: "denied", rule: "not in allowlist" })
          const answered = yield* waitFor(is({ via: "dns", host: "api.svc.test", decision: "allowed" }), "for the allowed lookup")
          expect(answered.data["address"]).toBe(world.remote)
        })
      ), 60_000)

    it.scopedLive("a relay started inside the sandbox: its outbound connect is traced and denied", () =>
      withLedger(
        Effect.gen(function* () {
          const { sandbox, observed, waitFor } = yield* monitored(allowlist(world), { hosts: hosts(world) })
          const relay = [
            "import socket",
            "l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('127.0.0.1', 7000)); l.listen(1)",
            "c, _ = l.accept()",
            "u = socket.socket()",
            "try:",
            `    u.connect(('${world.remote}', 8080)); u.sendall(c.recv(4096)); c.sendall(u.recv(4096))`,
            "except OSError as e:",
            "    c.sendall(b'relay failed: ' + str(e).encode())",
            "c.close()"
          ].join("\n")
          const result = yield* sandbox.sh(`python3 -c "$RELAY" & sleep 1; ${curl("http://127.0.0.1:7000/via-relay", "--noproxy '*' --http0.9")} 2>&1; wait`, { env: { RELAY: relay } })
          expect(out(result)).toContain("relay failed")
          expect(out(result)).not.toContain("world-ok")
          const seen = yield* waitFor(is({ via: "syscall", address: world.remote, port: 8080 }), "for the relay's connect")
          expect(seen.data["decision"]).toBe("denied")
          expect((yield* observed).filter(is({ via: "syscall", port: 7000 }))).toEqual([])
        })
      ), 60_000)

    it.scopedLive("an allowed name that resolves to a host-local address (DNS rebinding to 127.0.0.1)", () =>
      withLedger(
        Effect.gen(function* () {
          const { sandbox, waitFor } = yield* monitored(allowlist(world), { hosts: hosts(world) })
          const result = yield* sandbox.sh(curl(`http://sneaky.svc.test:${world.loopbackPort}/`) + " 2>&1")
          expect(result.exitCode).toBe(22)
          expect(out(result)).not.toContain("host-secret")
          expect(world.loopbackHits()).toBe(0)
          const resolved = yield* sandbox.sh(lookup("sneaky.svc.test"))
          expect(resolved.exitCode).not.toBe(0)
          const seen = yield* waitFor(is({ via: "proxy", host: "sneaky.svc.test" }), "for the proxied request")
          expect(seen.data).toMatchObject({ decision: "denied", rule: "host-local address", address: "127.0.0.1", port: world.loopbackPort })
          const dns = yield* waitFor(is({ via: "dns", host: "sneaky.svc.test" }), "for the lookup")
          expect(dns.data).toMatchObject({ decision: "denied", rule: "host-local address" })
        })
      ), 60_000)
  })

  it.scopedLive("open: a connection goes through and is recorded as allowed; the host's loopback stays closed", () =>
    withLedger(
      Effect.gen(function* () {
        const { sandbox, waitFor } = yield* monitored({ mode: "open" })
        expect(out(yield* sandbox.sh(curl(`http://${world.remote}:8081/open`)))).toBe("world-ok 8081 /open\n")
        const seen = yield* waitFor(is({ via: "proxy", address: world.remote, port: 8081 }), "for the open request")
        expect(seen.data).toMatchObject({ decision: "allowed", rule: "mode open", protocol: "http" })
        expect((yield* sandbox.sh(curl(`http://127.0.0.1:${world.loopbackPort}/`, "--noproxy '' -x http://127.0.0.1:3128"))).exitCode).toBe(22)
        expect((yield* sandbox.sh(curl(`http://${world.hostSide}:${world.loopbackPort}/`))).exitCode).toBe(22)
        expect(world.loopbackHits()).toBe(0)
        yield* waitFor(is({ via: "proxy", address: world.hostSide, decision: "denied", rule: "host-local address" }), "for the host's own address")
      })
    ), 60_000)
})
