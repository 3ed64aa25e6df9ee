#!/usr/bin/env bash
# The main job on embedded defaults: installs the npm dependencies if needed, then runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm run --silent build
fi
exec node bin/hydravisor.js demo "$@"
