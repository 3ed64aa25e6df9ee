#!/usr/bin/env bash
# Runs the whole test suite on a fresh clone: installs what the tests drive for real (bubblewrap,
# containerd, runc, crun, debootstrap, bpftrace, strace, the npm dependencies), starts containerd,
# then runs vitest.
# CI calls this same script.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v bwrap >/dev/null 2>&1 || need_apt+=(bubblewrap)
command -v nsenter >/dev/null 2>&1 || need_apt+=(util-linux)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)
command -v containerd >/dev/null 2>&1 || need_apt+=(containerd)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
command -v crun >/dev/null 2>&1 || need_apt+=(crun)
command -v debootstrap >/dev/null 2>&1 || need_apt+=(debootstrap)
command -v bpftrace >/dev/null 2>&1 || need_apt+=(bpftrace)
# the SQLite durability test reads the store's fsyncs from strace
command -v strace >/dev/null 2>&1 || need_apt+=(strace)
# the network monitor tests drive curl and python3 inside sandboxes (which see the host /usr)
[ -x /usr/bin/curl ] || need_apt+=(curl)
[ -x /usr/bin/python3 ] || need_apt+=(python3)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "test.sh: installing ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "test.sh: need root to apt-get install ${need_apt[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file (it also builds dist/ via prepare).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm run --silent build
fi

# containerd is a daemon no service manager starts here: start it when its socket is absent.
bash scripts/start-containerd.sh

# crun (the containerd runner's OCI runtime when usable) refuses a hybrid cgroup host whose cgroup2
# hierarchy holds controllers; the kernel puts there every controller no v1 hierarchy has (hugetlb on
# these machines). Give each its own v1 hierarchy, as the others have.
unified=/sys/fs/cgroup/unified
if [ "$(stat -f -c %T "$unified" 2>/dev/null)" = cgroup2fs ]; then
  for controller in $(cat "$unified/cgroup.controllers"); do
    grep -qE "^cgroup /sys/fs/cgroup/$controller cgroup " /proc/self/mounts && continue
    mkdir -p "/sys/fs/cgroup/$controller"
    mount -t cgroup -o "$controller" cgroup "/sys/fs/cgroup/$controller" ||
      echo "test.sh: cannot move the $controller controller to cgroup v1; containerd tests will use runc and the crun test fails" >&2
  done
fi

# bpftrace attaches to tracepoints through tracefs, which this kind of machine does not mount by default.
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing

npx vitest run "$@"
