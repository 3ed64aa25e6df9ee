#!/usr/bin/env bash
# The main job on embedded defaults. Installs what it needs (npm dependencies; bubblewrap when run as
# root), then:
#   1. the ledger demo: a signed ledger is written, verified, tampered with and caught;
#   2. the agent demo (as root): the daemon starts, a scripted agent connects over MCP, requests an
#      environment, writes and runs code in it, tries what its policy denies, releases it; then the
#      ledger is verified and what was recorded is summarised.
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
HYDRAVISOR_TOKEN="$token" node --import tsx examples/scripted-agent.ts --agent demo-agent --server-command "node $PWD/bin/hydravisor.js"
pkill -TERM -f "hydravisor.js mcp --no-http --data-dir $HYDRAVISOR_DATA_DIR" 2>/dev/null || true
pkill -TERM -f "serve --data-dir $HYDRAVISOR_DATA_DIR" 2>/dev/null || true
sleep 1
echo
echo "== verifying what was recorded ($HYDRAVISOR_DATA_DIR)"
hv audit verify
node -e '
const Database = require("better-sqlite3")
const db = new Database(process.argv[1], { readonly: true })
const rows = db.prepare("SELECT type, count(*) n FROM records GROUP BY type ORDER BY n DESC").all()
console.log(rows.map((r) => `${String(r.n).padStart(5)}  ${r.type}`).join("\n"))
' "$HYDRAVISOR_DATA_DIR/ledger.db"
