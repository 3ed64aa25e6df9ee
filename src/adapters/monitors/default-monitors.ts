// The monitors a daemon runs for every sandbox unless told otherwise: files (inotify), processes
// (bpftrace, falling back to /proc polling with its blind spots declared), network (egress proxy,
// DNS filter, traced connect()) and CPU time (the sandbox cgroup's cpu.stat, every 10 s). One
// instance of each per daemon: the process monitor shares one bpftrace between all sandboxes.
import { blobsDir, makeBlobStore } from "../blobs/blob-store.js"
import { makeFileMonitor } from "./files/file-monitor.js"
import { makeCpuMonitor } from "./cpu/cpu-monitor.js"
import type { Monitor } from "./monitor.js"
import { make as makeNetworkMonitor } from "./network/network-monitor.js"
import { makeProcessMonitor } from "./processes/process-monitor.js"

export const defaultMonitors = (dataDir: string): ReadonlyArray<Monitor> => [
  makeFileMonitor({ blobs: makeBlobStore(blobsDir(dataDir)) }),
  makeProcessMonitor({ mechanism: "auto" }),
  makeNetworkMonitor({ syscallTrace: "best-effort" }),
  makeCpuMonitor()
]
