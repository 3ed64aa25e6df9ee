#!/bin/sh
# Starts containerd for Hydravisor's containerd runner when its socket is absent, and waits for the
# socket. Hosts without systemd (CI, the development VMs) need this; with systemd prefer
# `systemctl start containerd`. Idempotent: exits 0 at once when the socket answers.
#
#   HYDRAVISOR_CONTAINERD_SOCKET  socket path           (default /run/containerd/containerd.sock)
#   HYDRAVISOR_CONTAINERD_ROOT    persistent data dir   (default /var/lib/containerd)
#   HYDRAVISOR_CONTAINERD_STATE   runtime state dir     (default /run/containerd)
#   HYDRAVISOR_CONTAINERD_LOG     daemon log file       (default <state>/containerd.log)
#   HYDRAVISOR_CONTAINERD_WAIT_S  seconds to wait       (default 20)
set -eu

socket=${HYDRAVISOR_CONTAINERD_SOCKET:-/run/containerd/containerd.sock}
root=${HYDRAVISOR_CONTAINERD_ROOT:-/var/lib/containerd}
state=${HYDRAVISOR_CONTAINERD_STATE:-/run/containerd}
log=${HYDRAVISOR_CONTAINERD_LOG:-$state/containerd.log}
wait_s=${HYDRAVISOR_CONTAINERD_WAIT_S:-20}

say() { echo "start-containerd: $*" >&2; }

answers() { [ -S "$socket" ] && ctr --address "$socket" version >/dev/null 2>&1; }

if answers; then
  say "containerd already answers on $socket"
  exit 0
fi

for tool in containerd containerd-shim-runc-v2 runc ctr flock; do
  command -v "$tool" >/dev/null 2>&1 || { say "$tool is not installed; run: apt-get install -y containerd runc"; exit 1; }
done
[ "$(id -u)" = 0 ] || { say "containerd must run as root"; exit 1; }

mkdir -p "$root" "$state" "$(dirname "$socket")"
# Two callers at once (parallel test files) must not start two daemons on one root: the second
# waits here and then finds the first one answering.
exec 9>"$state/.hydravisor-start.lock"
flock 9
if answers; then
  say "containerd already answers on $socket"
  exit 0
fi
# A stale socket from a killed daemon would make containerd refuse to start.
[ -S "$socket" ] && rm -f "$socket"

# Only what the runner uses: no CRI (it wants CNI and an image service we do not need), no opt plugin.
config=$state/hydravisor-containerd.toml
cat >"$config" <<EOF
version = 2
root = "$root"
state = "$state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt"]

[grpc]
  address = "$socket"
EOF

# setsid + nohup: the daemon outlives this script and the shell (or test) that ran it.
setsid nohup containerd --config "$config" --root "$root" --state "$state" --address "$socket" >>"$log" 2>&1 </dev/null 9>&- &
pid=$!

elapsed=0
while [ "$elapsed" -lt $((wait_s * 10)) ]; do
  if answers; then
    say "containerd (pid $pid) answers on $socket (root $root, state $state, log $log)"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    say "containerd exited before its socket answered; last lines of $log:"
    tail -n 20 "$log" >&2
    exit 1
  fi
  sleep 0.1
  elapsed=$((elapsed + 1))
done
say "containerd (pid $pid) did not answer on $socket within ${wait_s}s; last lines of $log:"
tail -n 20 "$log" >&2
exit 1
