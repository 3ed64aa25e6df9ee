// `npm run bench`: runs every benchmark script in bench/ one after another (each in its own process,
// so they do not share a heap or a warm JIT) and prints their JSON figures as one document.
// Usage: npm run bench [-- ledger store …]   (names select scripts; default: all)
// Files starting with `_` are parts another script runs (bench/monitors.ts runs the _monitors-* ones).
import { spawnSync } from "node:child_process"
import { mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"

const dir = import.meta.dirname
const wanted = process.argv.slice(2).filter((a) => !a.startsWith("-"))
const scripts = readdirSync(dir)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && !f.startsWith("_"))
  .filter((f) => wanted.length === 0 || wanted.includes(f.replace(/\.ts$/, "")))
  .sort()

const results: Record<string, unknown> = {}
for (const script of scripts) {
  process.stderr.write(`bench: running ${script}…\n`)
  const r = spawnSync(process.execPath, ["--import", "tsx", join(dir, script)], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 * 1024 * 1024 })
  try {
    results[script.replace(/\.ts$/, "")] = JSON.parse(r.stdout)
  } catch {
    results[script.replace(/\.ts$/, "")] = { error: `exit ${r.status}`, output: r.stdout.slice(-2000) }
  }
}
const document = { at: new Date().toISOString(), node: process.version, results }
mkdirSync(join(dir, "out"), { recursive: true })
writeFileSync(join(dir, "out", "latest.json"), JSON.stringify(document, null, 2) + "\n")
console.log(JSON.stringify(document, null, 2))
