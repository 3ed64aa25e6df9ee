// Opens the proxy and DNS listeners INSIDE a sandbox's network namespace while keeping them in this
// (host) process: a short-lived child, started by nsenter in that namespace, binds the sockets and
// hands them over the IPC channel (SCM_RIGHTS), then exits. A socket stays in the namespace it was
// created in, so the sandbox reaches them on its 127.0.0.1, and every outbound connection this process
// makes leaves from the host's namespace. Nothing runs inside that the sandbox could see or kill.
import { Effect } from "effect"
import type { Scope } from "effect"
import { spawn } from "node:child_process"
import type * as dgram from "node:dgram"
import * as fs from "node:fs"
import type * as net from "node:net"
import { diesWithParent } from "../dies-with-parent.js"
import { MonitorUnavailable } from "../monitor.js"

export interface NetnsListeners {
  readonly proxy: net.Server
  readonly dnsTcp: net.Server
  readonly dnsUdp: dgram.Socket
}

export interface ListenerPorts {
  readonly proxy: number
  readonly dns: number
}

// Runs as the nsenter'd child: bind all three, send them, leave when the parent has them. A failure is one line on stderr.
const CHILD_SCRIPT = `
const net = require("node:net"), dgram = require("node:dgram")
const [proxyPort, dnsPort] = process.argv.slice(1).map(Number)
const fail = (what, e) => { process.stderr.write(what + ": " + e.message + "\\n"); process.exit(3) }
const proxy = net.createServer({ pauseOnConnect: true }).on("error", (e) => fail("proxy 127.0.0.1:" + proxyPort, e))
const dnsTcp = net.createServer({ pauseOnConnect: true }).on("error", (e) => fail("dns tcp 127.0.0.1:" + dnsPort, e))
const dnsUdp = dgram.createSocket("udp4").on("error", (e) => fail("dns udp 127.0.0.1:" + dnsPort, e))
proxy.listen(proxyPort, "127.0.0.1", () => dnsTcp.listen(dnsPort, "127.0.0.1", () => dnsUdp.bind(dnsPort, "127.0.0.1", () => {
  process.send("proxy", proxy)
  process.send("dnsTcp", dnsTcp)
  process.send("dnsUdp", dnsUdp)
})))
// the parent disconnects once it holds all three; our copies must go, or we would accept too
process.on("disconnect", () => process.exit(0))
`

const unavailable = (reason: string) => new MonitorUnavailable({ monitor: "network", reason })

const netnsOf = (pid: number | "self"): string | null => {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/net`)
  } catch {
    return null
  }
}

/** Binds 127.0.0.1:<proxy> (TCP) and 127.0.0.1:<dns> (TCP and UDP) in the network namespace of `pid`; closed with the scope. */
export const openNetnsListeners = (
  pid: number,
  ports: ListenerPorts
): Effect.Effect<NetnsListeners, MonitorUnavailable, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function* () {
      const target = netnsOf(pid)
      if (target === null) return yield* Effect.fail(unavailable(`cannot read /proc/${pid}/ns/net (is the sandbox running?)`))
      if (target === netnsOf("self")) return yield* Effect.fail(unavailable(`pid ${pid} shares the host's network namespace; refusing to listen there`))
      return yield* Effect.async<NetnsListeners, MonitorUnavailable>((resume) => {
        const got: Partial<Record<keyof NetnsListeners, unknown>> = {}
        let stderr = ""
        let settled = false
        const child = spawn(...diesWithParent("nsenter", [`--net=/proc/${pid}/ns/net`, "--", process.execPath, "-e", CHILD_SCRIPT, String(ports.proxy), String(ports.dns)]), {
          env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
          stdio: ["ignore", "ignore", "pipe", "ipc"]
        })
        const finish = (outcome: Effect.Effect<NetnsListeners, MonitorUnavailable>) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resume(outcome)
        }
        const timer = setTimeout(() => {
          child.kill("SIGKILL")
          finish(Effect.fail(unavailable(`the listener child in pid ${pid}'s network namespace did not answer within 10 s`)))
        }, 10_000)
        child.stderr?.on("data", (chunk: Buffer) => {
          stderr += chunk.toString("utf8")
        })
        child.on("message", (which: unknown, handle: unknown) => {
          if (which === "proxy" || which === "dnsTcp" || which === "dnsUdp") got[which] = handle
          if (got.proxy !== undefined && got.dnsTcp !== undefined && got.dnsUdp !== undefined) {
            child.disconnect()
            finish(Effect.succeed({ proxy: got.proxy as net.Server, dnsTcp: got.dnsTcp as net.Server, dnsUdp: got.dnsUdp as dgram.Socket }))
          }
        })
        child.on("error", (error) => finish(Effect.fail(unavailable(`cannot run nsenter: ${error.message}`))))
        child.on("exit", (code) =>
          finish(Effect.fail(unavailable(`could not bind in pid ${pid}'s network namespace (exit ${code}): ${stderr.trim() || "no message"}`)))
        )
        return Effect.sync(() => child.kill("SIGKILL"))
      })
    }),
    (listeners) =>
      Effect.sync(() => {
        listeners.proxy.close()
        listeners.dnsTcp.close()
        try {
          listeners.dnsUdp.close()
        } catch {
          // already closed
        }
      })
  )
