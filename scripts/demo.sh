#!/usr/bin/env bash
# The main job on embedded defaults. Installs what it needs (npm dependencies; bubblewrap when run as
# root), then:
#   1. the ledger demo: a signed ledger is written, verified, tampered with and caught;
#   2. the agent demo (as root): the daemon starts, a scripted agent connects over MCP, requests an
#      environment, writes and runs code in it, tries what its policy denies (blocked programs, a
#      path out of the workspace, another environment, the network), releases it; then the ledger is
#      verified and what was recorded is summarised: policy refusals and what the monitors observed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm run --silent build
fi
hv() { node bin/hydravisor.js "$@"; }

echo "== the ledger"
hv demo

if [ "$(id -u)" -ne 0 ]; then
  echo "== the agent demo needs root (cgroups, namespaces): run again with sudo to see it"
  exit 0
fi
command -v bwrap >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; }

echo
echo "== an agent over MCP"
dir="$PWD/.hydravisor-demo/agent-$(date +%Y%m%dT%H%M%S)"
export HYDRAVISOR_DATA_DIR="$dir/data" HYDRAVISOR_RUNTIME_DIR="$dir/run"
token=$(hv agents add demo-agent --json | node -e 'let s="";process.stdin.on("data",c=>s+=c).on("end",()=>console.log(JSON.parse(s).token))')

# The daemon (with MCP) in the background, stopped by its pid when the demo ends, however it ends.
mkdir -p "$dir"
node bin/hydravisor.js mcp --no-http 2>"$dir/daemon.log" &
daemon=$!
stop_daemon() { kill -TERM "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true; }
trap stop_daemon EXIT
for _ in $(seq 600); do
  grep -q "MCP on" "$dir/daemon.log" 2>/dev/null && break
  kill -0 "$daemon" 2>/dev/null || { cat "$dir/daemon.log"; exit 1; }
  sleep 0.1
done
grep -q "MCP on" "$dir/daemon.log" || { echo "the daemon did not start:"; cat "$dir/daemon.log"; exit 1; }

HYDRAVISOR_TOKEN="$token" node --import tsx examples/scripted-agent.ts --agent demo-agent --server-command "node $PWD/bin/hydravisor.js"
stop_daemon
trap - EXIT

echo
echo "== verifying what was recorded ($HYDRAVISOR_DATA_DIR)"
hv audit verify
node -e '
const Database = require("better-sqlite3")
const db = new Database(process.argv[1], { readonly: true })
const rows = db.prepare("SELECT type, count(*) n FROM records GROUP BY type ORDER BY n DESC").all()
console.log(rows.map((r) => `${String(r.n).padStart(5)}  ${r.type}`).join("\n"))
const data = (type) => db.prepare("SELECT body FROM records WHERE type = ?").pluck().all(type).map((b) => JSON.parse(b).data)
const blocked = data("CommandRejected").filter((d) => d.rejection === "PolicyRefused").length
const denied = data("AccessDenied").filter((d) => d.reason === "policy-denied").length
const connections = data("ConnectionAttempted")
const refusedConnections = connections.filter((d) => d.decision === "denied").length
const actions = {}
for (const d of data("PolicyViolated")) actions[`${d.kind} (action ${d.action})`] = (actions[`${d.kind} (action ${d.action})`] ?? 0) + 1
const files = data("FileChanged").length
const processes = data("ProcessStarted").length
const cpuSeconds = data("CpuUsed").reduce((sum, d) => sum + d.seconds, 0)
console.log()
console.log(`policy refusals: ${blocked + denied + refusedConnections} (${blocked} commands blocked at exec, ${denied} tool calls denied by access rules, ${refusedConnections} connection attempts denied by the network policy)`)
console.log(`policy violations observed: ${Object.entries(actions).map(([k, n]) => `${n} ${k}`).join(", ") || "none"}`)
console.log(`monitor observations: ${files} files changed, ${processes} processes started, ${connections.length} connection attempts, ${cpuSeconds.toFixed(2)} s of CPU`)
if (blocked === 0 || files === 0 || processes === 0 || refusedConnections === 0) {
  console.error("expected at least one blocked command, changed file, started process and denied connection")
  process.exit(1)
}
' "$HYDRAVISOR_DATA_DIR/ledger.db"
