// The tests' "outside world": a network namespace joined to the host by a veth pair, with HTTP servers
// inside it (ports 8080 and 8081: `/bytes/<n>` answers n bytes, a POST the count of bytes it got), and
// one HTTP server on the host's loopback that no sandbox may reach.
// Only namespaces and addresses this file creates; everything is removed by `close`.
import { execFileSync, spawn } from "node:child_process"
import type { ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

export interface World {
  /** The namespace's address (servers on 8080 and 8081 answer `world-ok <port> <path>`, `/bytes/<n>`: n bytes, a POST: `world-got <n>`). */
  readonly remote: string
  /** This host's end of the veth pair. */
  readonly hostSide: string
  /** A server on the host's 127.0.0.1: how many requests reached it. */
  readonly loopbackPort: number
  readonly loopbackHits: () => number
  readonly close: () => Promise<void>
}

const SERVER = `
const http = require("node:http")
const bytes = /^\\/bytes\\/(\\d{1,8})$/
for (const port of [8080, 8081]) http.createServer((req, res) => {
  let received = 0
  req.on("data", (chunk) => { received += chunk.length })
  req.on("end", () => {
    const asked = bytes.exec(req.url)
    if (asked) return res.end(Buffer.alloc(Number(asked[1]), 120))
    res.end(req.method === "POST" ? "world-got " + received + "\\n" : "world-ok " + port + " " + req.url + "\\n")
  })
}).listen(port, "0.0.0.0")
process.stdout.write("up\\n")
`

const run = (file: string, args: ReadonlyArray<string>) => execFileSync(file, args, { stdio: ["ignore", "pipe", "pipe"] }).toString()

export const openWorld = async (): Promise<World> => {
  for (const tool of ["ip", "bpftrace", "curl", "getent", "python3"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" })
    } catch {
      throw new Error(`the network monitor tests need ${tool} on this host (scripts/test.sh installs it)`)
    }
  }
  const tag = randomBytes(3).toString("hex")
  const ns = `hvtest-${tag}`
  const subnet = 1 + (parseInt(tag, 16) % 250)
  const hostSide = `10.231.${subnet}.1`
  const remote = `10.231.${subnet}.2`
  const hostIf = `hvh${tag}`
  run("ip", ["netns", "add", ns])
  let server: ChildProcess | null = null
  const loopback = http.createServer((req, res) => {
    hits++
    req.resume()
    res.end("host-secret\n")
  })
  let hits = 0
  const close = async () => {
    server?.kill("SIGKILL")
    loopback.close()
    try {
      run("ip", ["netns", "del", ns])
    } catch {
      // already gone
    }
    try {
      run("ip", ["link", "del", hostIf])
    } catch {
      // deleted with the namespace
    }
  }
  try {
    run("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", `hvn${tag}`])
    run("ip", ["link", "set", `hvn${tag}`, "netns", ns])
    run("ip", ["addr", "add", `${hostSide}/24`, "dev", hostIf])
    run("ip", ["link", "set", hostIf, "up"])
    run("ip", ["-n", ns, "addr", "add", `${remote}/24`, "dev", `hvn${tag}`])
    run("ip", ["-n", ns, "link", "set", `hvn${tag}`, "up"])
    run("ip", ["-n", ns, "link", "set", "lo", "up"])
    const started = spawn("ip", ["netns", "exec", ns, process.execPath, "-e", SERVER], { stdio: ["ignore", "pipe", "inherit"] })
    server = started
    await new Promise<void>((resolve, reject) => {
      started.stdout?.once("data", () => resolve())
      started.once("exit", (code) => reject(new Error(`the world's servers exited with ${code}`)))
    })
    await new Promise<void>((resolve) => loopback.listen(0, "127.0.0.1", resolve))
    // the servers listen once "up" is printed, but give the veth a moment to pass traffic
    for (let i = 0; i < 50; i++) {
      const ok = await fetch(`http://${remote}:8080/ping`).then((r) => r.ok, () => false)
      if (ok) break
      await new Promise((r) => setTimeout(r, 100))
    }
  } catch (error) {
    await close()
    throw error
  }
  return { remote, hostSide, loopbackPort: (loopback.address() as AddressInfo).port, loopbackHits: () => hits, close }
}
