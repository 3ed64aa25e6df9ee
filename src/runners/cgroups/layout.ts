// Where a sandbox's cgroups live and which files carry its limits and counters, as plain data.
// Two host layouts: pure cgroup v2 (one directory does everything) and hybrid (v1 controllers hold the
// limits, a controller-less cgroup2 hierarchy tracks, kills and freezes). No I/O here.
import { Either } from "effect"
import * as path from "node:path"

export type CgroupLayout =
  | { readonly kind: "v2"; readonly root: string; readonly controllers: ReadonlyArray<string> }
  | {
      readonly kind: "hybrid"
      readonly unified: string
      readonly memory: string
      readonly pids: string
      readonly cpu: string | null
    }

export interface LayoutProblem {
  readonly missing: string
  readonly fix: string
}

export interface MountEntry {
  readonly mountPoint: string
  readonly fsType: string
  readonly options: ReadonlyArray<string>
}

/** The directories of one sandbox. In v2 they are all the same directory. */
export interface SandboxCgroupPaths {
  readonly kind: CgroupLayout["kind"]
  /** cgroup2 directory: cgroup.procs, cgroup.kill, cgroup.freeze, cgroup.events. */
  readonly tracking: string
  readonly memory: string
  readonly pids: string
  readonly cpu: string | null
  /** Every distinct directory, created in this order and removed in reverse. */
  readonly dirs: ReadonlyArray<string>
}

export interface CgroupWrite {
  readonly file: string
  readonly value: string
}

export interface Limits {
  readonly cpuCores: number
  readonly memoryMb: number
  readonly pids: number
}

const unescapeMountField = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))

/** Parses /proc/self/mounts. */
export const parseMounts = (text: string): ReadonlyArray<MountEntry> =>
  text
    .split("\n")
    .map((line) => line.split(" "))
    .flatMap(([, mountPoint, fsType, options]) =>
      mountPoint === undefined || fsType === undefined || options === undefined
        ? []
        : [{ mountPoint: unescapeMountField(mountPoint), fsType, options: options.split(",") }]
    )

const v1Controller = (mounts: ReadonlyArray<MountEntry>, controller: string): string | null =>
  mounts.find((m) => m.fsType === "cgroup" && m.options.includes(controller))?.mountPoint ?? null

/**
 * Chooses the layout from the mount table and the `cgroup.controllers` of the cgroup2 mount (null
 * when there is none). v2 wins when it owns the memory and pids controllers.
 */
export const chooseLayout = (
  mounts: ReadonlyArray<MountEntry>,
  v2RootControllers: string | null
): Either.Either<CgroupLayout, LayoutProblem> => {
  const cgroup2 = mounts.find((m) => m.fsType === "cgroup2")?.mountPoint ?? null
  if (cgroup2 === null) {
    return Either.left({
      missing: "no cgroup2 hierarchy is mounted (needed to track, kill and freeze a sandbox's processes)",
      fix: "Mount one: `mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified`, or boot with systemd.unified_cgroup_hierarchy=1."
    })
  }
  const v2Controllers = (v2RootControllers ?? "").trim().split(/\s+/).filter((c) => c !== "")
  if (v2Controllers.includes("memory") && v2Controllers.includes("pids")) {
    return Either.right({ kind: "v2", root: cgroup2, controllers: v2Controllers.filter((c) => ["memory", "pids", "cpu"].includes(c)) })
  }
  const memory = v1Controller(mounts, "memory")
  const pids = v1Controller(mounts, "pids")
  if (memory === null || pids === null) {
    const absent = [memory === null ? "memory" : null, pids === null ? "pids" : null].filter((c) => c !== null).join(" and ")
    return Either.left({
      missing: `the ${absent} cgroup controller${absent.includes(" and ") ? "s are" : " is"} available in neither cgroup v2 (${cgroup2}) nor cgroup v1`,
      fix: "Enable them in the kernel (CONFIG_MEMCG, CONFIG_CGROUP_PIDS; `cgroup_enable=memory` on the kernel command line) or use a host with cgroup v2."
    })
  }
  return Either.right({ kind: "hybrid", unified: cgroup2, memory, pids, cpu: v1Controller(mounts, "cpu") })
}

/** `parent` is the hydravisor subtree name (e.g. "hydravisor"), `id` the sandbox id. */
export const sandboxCgroupPaths = (layout: CgroupLayout, parent: string, id: string): SandboxCgroupPaths => {
  if (layout.kind === "v2") {
    const dir = path.join(layout.root, parent, id)
    return { kind: "v2", tracking: dir, memory: dir, pids: dir, cpu: layout.controllers.includes("cpu") ? dir : null, dirs: [dir] }
  }
  const tracking = path.join(layout.unified, parent, id)
  const memory = path.join(layout.memory, parent, id)
  const pids = path.join(layout.pids, parent, id)
  const cpu = layout.cpu === null ? null : path.join(layout.cpu, parent, id)
  return { kind: "hybrid", tracking, memory, pids, cpu, dirs: [...new Set([tracking, memory, pids, ...(cpu === null ? [] : [cpu])])] }
}

/** Writes that let `parent`'s children use the v2 controllers (nothing to do for hybrid). */
export const delegationWrites = (layout: CgroupLayout, parent: string): ReadonlyArray<CgroupWrite> =>
  layout.kind === "v2"
    ? [layout.root, path.join(layout.root, parent)].flatMap((dir) =>
        layout.controllers.map((c) => ({ file: path.join(dir, "cgroup.subtree_control"), value: `+${c}` }))
      )
    : []

export const CPU_PERIOD_US = 100_000

/** Limit writes in the order the kernel accepts them (memory before memory+swap). */
export const limitWrites = (
  paths: SandboxCgroupPaths,
  limits: Limits,
  present: { readonly memsw: boolean; readonly swapMax: boolean }
): ReadonlyArray<CgroupWrite> => {
  const memoryBytes = String(limits.memoryMb * 1024 * 1024)
  const quota = String(Math.max(1000, Math.round(limits.cpuCores * CPU_PERIOD_US)))
  const at = (dir: string, file: string, value: string): CgroupWrite => ({ file: path.join(dir, file), value })
  if (paths.kind === "v2") {
    return [
      at(paths.memory, "memory.max", memoryBytes),
      ...(present.swapMax ? [at(paths.memory, "memory.swap.max", "0")] : []),
      at(paths.pids, "pids.max", String(limits.pids)),
      ...(paths.cpu === null ? [] : [at(paths.cpu, "cpu.max", `${quota} ${CPU_PERIOD_US}`)])
    ]
  }
  return [
    at(paths.memory, "memory.limit_in_bytes", memoryBytes),
    ...(present.memsw ? [at(paths.memory, "memory.memsw.limit_in_bytes", memoryBytes)] : []),
    at(paths.pids, "pids.max", String(limits.pids)),
    ...(paths.cpu === null
      ? []
      : [at(paths.cpu, "cpu.cfs_period_us", String(CPU_PERIOD_US)), at(paths.cpu, "cpu.cfs_quota_us", quota)])
  ]
}

/** The cgroup.procs files a launcher writes its own pid into; `trackingDir` may be an exec's child cgroup. */
export const procsFiles = (paths: SandboxCgroupPaths, trackingDir: string = paths.tracking): ReadonlyArray<string> =>
  paths.kind === "v2"
    ? [path.join(trackingDir, "cgroup.procs")]
    : [trackingDir, ...paths.dirs.filter((d) => d !== paths.tracking)].map((d) => path.join(d, "cgroup.procs"))

export interface CounterFiles {
  readonly oomKills: { readonly file: string; readonly key: string }
  readonly pidsLimitHits: { readonly file: string; readonly key: string }
  readonly memoryBytes: string
}

export const counterFiles = (paths: SandboxCgroupPaths): CounterFiles =>
  paths.kind === "v2"
    ? {
        oomKills: { file: path.join(paths.memory, "memory.events"), key: "oom_kill" },
        pidsLimitHits: { file: path.join(paths.pids, "pids.events"), key: "max" },
        memoryBytes: path.join(paths.memory, "memory.current")
      }
    : {
        oomKills: { file: path.join(paths.memory, "memory.oom_control"), key: "oom_kill" },
        pidsLimitHits: { file: path.join(paths.pids, "pids.events"), key: "max" },
        memoryBytes: path.join(paths.memory, "memory.usage_in_bytes")
      }

/** Parses flat-keyed files (`key value` per line): memory.events, pids.events, cgroup.events, memory.oom_control. */
export const parseFlatKeyed = (text: string): ReadonlyMap<string, number> =>
  new Map(
    text.split("\n").flatMap((line) => {
      const [key, value] = line.trim().split(/\s+/)
      const n = Number(value)
      return key === undefined || key === "" || value === undefined || !Number.isFinite(n) ? [] : [[key, n] as const]
    })
  )

export const parsePids = (text: string): ReadonlyArray<number> =>
  text.split("\n").flatMap((line) => (/^\d+$/.test(line.trim()) ? [Number(line.trim())] : []))
