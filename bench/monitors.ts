// Monitor benchmarks (issue 5), one after another in this process so that they never compete for the
// two cores: files (inotify → FileChanged), processes (bpftrace → ProcessStarted) and network (egress
// proxy → ConnectionAttempted). Prints their figures, and the load average around them, as one JSON.
// Usage: node --import tsx bench/monitors.ts [--files 5000] [--paced 400] [--rate 100] [--execs 4000] [--requests 2000]
import { cpus, loadavg } from "node:os"
import { benchFiles } from "./_monitors-files.js"
import { benchNetwork } from "./_monitors-network.js"
import { benchProcesses } from "./_monitors-processes.js"

const benches: ReadonlyArray<readonly [string, () => Promise<Record<string, number>>]> = [
  ["files", benchFiles],
  ["processes", benchProcesses],
  ["network", benchNetwork]
]

const load = () => loadavg().map((l) => +l.toFixed(2))

const results: Record<string, unknown> = { cores: cpus().length, loadAverageBefore: load() }
for (const [name, bench] of benches) {
  process.stderr.write(`bench monitors: ${name}…\n`)
  // One failing bench (no bpftrace, no `ip netns`) is reported, and the others still run.
  results[name] = await bench().catch((error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }))
}
results["loadAverageAfter"] = load()
console.log(JSON.stringify(results, null, 2))
