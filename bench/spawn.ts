// Spawn cost (docs/decisions.md, the spawner helper): Node's `spawn` forks the calling process on its
// main thread, and a fork copies page tables, so its cost grows with the caller's memory. Measures the
// main-thread time of `spawn("/bin/true")` from this process at three sizes, and the round trip of the
// same command through the spawner helper (what the bwrap runner uses) at the largest.
// Usage: node --import tsx bench/spawn.ts [--runs 200]
import { spawn } from "node:child_process"
import { Effect } from "effect"
import { makeSpawner } from "../src/runners/spawner/spawner.js"

const runsArg = process.argv.indexOf("--runs")
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 200
const p50 = (xs: ReadonlyArray<number>) => +[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(3)
const rssMb = () => Math.round(process.memoryUsage().rss / 1e6)

const directSpawn = async () => {
  const blocked: Array<number> = []
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now()
    const child = spawn("/bin/true", [], { stdio: "ignore" })
    blocked.push(performance.now() - t)
    await new Promise((done) => child.once("exit", done))
  }
  return { rssMb: rssMb(), spawnMainThreadP50Ms: p50(blocked) }
}

const ballast: Array<Buffer> = []
const grow = (mb: number) => {
  for (let i = 0; i < mb; i++) ballast.push(Buffer.alloc(1 << 20, 1))
}

const direct = [await directSpawn()]
grow(100)
direct.push(await directSpawn())
grow(200)
direct.push(await directSpawn())

const helper = await Effect.runPromise(
  Effect.scoped(
    Effect.gen(function* () {
      const spawner = yield* makeSpawner
      const roundTrip: Array<number> = []
      const request = { file: "/bin/true", args: [], env: { PATH: "/usr/bin:/bin" }, stdin: undefined, maxOutputBytes: 1024, fd3: "none" as const }
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now()
        yield* (yield* spawner.spawn(request)).done
        roundTrip.push(performance.now() - t)
      }
      return { rssMb: rssMb(), roundTripP50Ms: p50(roundTrip) }
    })
  )
)
console.log(JSON.stringify({ bench: "spawn", runs: RUNS, direct, throughSpawnerHelper: helper }, null, 2))
