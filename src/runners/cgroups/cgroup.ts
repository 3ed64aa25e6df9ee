// The cgroup side effects of a sandbox: detect the host layout, create the directories with limits,
// freeze, kill, count and remove. cgroupfs files are kernel memory, so plain synchronous calls are the
// leanest way to touch them on the exec hot path.
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { CgroupFailure, describeCause, HostUnsupported, SandboxExists } from "../errors.js"
import {
  chooseLayout,
  counterFiles,
  delegationWrites,
  limitWrites,
  parseFlatKeyed,
  parseMounts,
  parsePids,
  sandboxCgroupPaths
} from "./layout.js"
import type { CgroupLayout, CgroupWrite, Limits, SandboxCgroupPaths } from "./layout.js"

const errnoOf = (cause: unknown): string | undefined =>
  typeof cause === "object" && cause !== null && "code" in cause ? String((cause as { code: unknown }).code) : undefined

const failure = (file: string, operation: string) => (cause: unknown) =>
  new CgroupFailure({ path: file, operation, reason: describeCause(cause) })

export const writeCgroupFile = (write: CgroupWrite) =>
  Effect.try({ try: () => fs.writeFileSync(write.file, write.value), catch: failure(write.file, `write "${write.value}"`) })

export const readCgroupFile = (file: string) =>
  Effect.try({ try: () => fs.readFileSync(file, "utf8"), catch: failure(file, "read") })

/** Reads the mount table and picks the layout; fails with what is missing and how to fix it. */
export const detectLayout = (runner: string): Effect.Effect<CgroupLayout, HostUnsupported> =>
  Effect.gen(function* () {
    const mounts = parseMounts(
      yield* Effect.try({
        try: () => fs.readFileSync("/proc/self/mounts", "utf8"),
        catch: () => new HostUnsupported({ runner, missing: "/proc/self/mounts is unreadable", fix: "Mount /proc." })
      })
    )
    const cgroup2 = mounts.find((m) => m.fsType === "cgroup2")?.mountPoint
    const controllers = cgroup2 === undefined ? null : readOr(path.join(cgroup2, "cgroup.controllers"), "")
    return yield* Either.match(chooseLayout(mounts, controllers), {
      onLeft: (problem) => Effect.fail(new HostUnsupported({ runner, ...problem })),
      onRight: Effect.succeed
    })
  })

const readOr = (file: string, fallback: string): string => {
  try {
    return fs.readFileSync(file, "utf8")
  } catch {
    return fallback
  }
}

const mkdirIfMissing = (dir: string) =>
  Effect.try({
    try: () => fs.mkdirSync(dir, { recursive: true }),
    catch: failure(dir, "mkdir")
  })

/**
 * Creates the hydravisor parent cgroup in every hierarchy and checks the kernel offers cgroup.kill
 * and cgroup.freeze there (Linux 5.14+).
 */
export const prepareParent = (layout: CgroupLayout, parent: string, runner: string) =>
  Effect.gen(function* () {
    const probe = sandboxCgroupPaths(layout, parent, "probe")
    yield* Effect.forEach(probe.dirs, (dir) => mkdirIfMissing(path.dirname(dir)), { discard: true })
    yield* Effect.forEach(delegationWrites(layout, parent), writeCgroupFile, { discard: true })
    const trackingParent = path.dirname(probe.tracking)
    for (const file of ["cgroup.kill", "cgroup.freeze", "cgroup.events"]) {
      if (!fs.existsSync(path.join(trackingParent, file))) {
        return yield* Effect.fail(
          new HostUnsupported({
            runner,
            missing: `the kernel offers no ${file} in ${trackingParent}`,
            fix: "Use Linux 5.14 or newer (cgroup.kill) with a cgroup2 hierarchy."
          })
        )
      }
    }
  })

/** Creates the sandbox's directories and writes its limits; fails with SandboxExists if present. */
export const createSandboxCgroup = (layout: CgroupLayout, parent: string, id: string, limits: Limits) =>
  Effect.gen(function* () {
    const paths = sandboxCgroupPaths(layout, parent, id)
    if (fs.existsSync(paths.tracking)) return yield* Effect.fail(new SandboxExists({ id, path: paths.tracking }))
    yield* Effect.forEach(paths.dirs, mkdirIfMissing, { discard: true })
    const present = {
      memsw: fs.existsSync(path.join(paths.memory, "memory.memsw.limit_in_bytes")),
      swapMax: fs.existsSync(path.join(paths.memory, "memory.swap.max"))
    }
    yield* Effect.forEach(limitWrites(paths, limits, present), writeCgroupFile, { discard: true }).pipe(
      Effect.tapError(() => removeSandboxCgroup(paths).pipe(Effect.ignore))
    )
    return paths
  })

export interface CgroupEvents {
  readonly exists: boolean
  readonly populated: boolean
  readonly frozen: boolean
}

/** Whether the cgroup was asked to freeze (`cgroup.freeze` is 1): its processes are frozen or being frozen. */
export const freezeRequested = (dir: string): boolean => readOr(path.join(dir, "cgroup.freeze"), "0").trim() === "1"

export const readEvents = (dir: string): Effect.Effect<CgroupEvents, CgroupFailure> =>
  Effect.try({
    try: () => {
      const events = parseFlatKeyed(fs.readFileSync(path.join(dir, "cgroup.events"), "utf8"))
      return { exists: true, populated: events.get("populated") === 1, frozen: events.get("frozen") === 1 }
    },
    catch: (cause) => cause
  }).pipe(
    Effect.catchAll((cause) =>
      errnoOf(cause) === "ENOENT"
        ? Effect.succeed({ exists: false, populated: false, frozen: false })
        : Effect.fail(failure(dir, "read cgroup.events")(cause))
    )
  )

const childDirs = (dir: string): ReadonlyArray<string> => {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => path.join(dir, entry.name))
  } catch {
    return []
  }
}

/** Every pid in the sandbox, including those in per-exec child cgroups. */
export const listPids = (paths: SandboxCgroupPaths): ReadonlyArray<number> =>
  [paths.tracking, ...childDirs(paths.tracking)].flatMap((dir) => parsePids(readOr(path.join(dir, "cgroup.procs"), "")))

export const pidIsMember = (paths: SandboxCgroupPaths, pid: number): boolean =>
  parsePids(readOr(path.join(paths.tracking, "cgroup.procs"), "")).includes(pid)

export interface CgroupCounters {
  readonly oomKills: number
  readonly pidsLimitHits: number
  readonly memoryBytes: number | null
}

/** One key of a flat-keyed counter file (memory.events, pids.events); 0 when unreadable or absent. */
const flatCounter = (counter: { readonly file: string; readonly key: string }): number => parseFlatKeyed(readOr(counter.file, "")).get(counter.key) ?? 0

export const readCounters = (paths: SandboxCgroupPaths): CgroupCounters => {
  const files = counterFiles(paths)
  const memoryText = readOr(files.memoryBytes, "").trim()
  const memory = Number(memoryText)
  return { oomKills: flatCounter(files.oomKills), pidsLimitHits: flatCounter(files.pidsLimitHits), memoryBytes: memoryText === "" || !Number.isFinite(memory) ? null : memory }
}

/** The OOM-kill counter alone (one file): what an exec compares before and after. */
export const readOomKills = (paths: SandboxCgroupPaths): number => flatCounter(counterFiles(paths).oomKills)

/** The limit counters without the memory reading (two files). */
export const readLimitCounters = (paths: SandboxCgroupPaths): Pick<CgroupCounters, "oomKills" | "pidsLimitHits"> => {
  const files = counterFiles(paths)
  return { oomKills: flatCounter(files.oomKills), pidsLimitHits: flatCounter(files.pidsLimitHits) }
}

const waitFor = (
  dir: string,
  operation: string,
  done: (events: CgroupEvents) => boolean,
  timeoutMs: number
): Effect.Effect<void, CgroupFailure> =>
  Effect.gen(function* () {
    for (let waited = 0; ; waited += 2) {
      const events = yield* readEvents(dir)
      if (done(events)) return
      if (waited >= timeoutMs) {
        return yield* Effect.fail(new CgroupFailure({ path: dir, operation, reason: `not done after ${timeoutMs} ms` }))
      }
      yield* Effect.sleep("2 millis")
    }
  })

/** Kills every process below `dir` (cgroup.kill) and waits until the cgroup is empty. */
export const killAll = (dir: string, timeoutMs = 10_000) =>
  Effect.gen(function* () {
    const events = yield* readEvents(dir)
    if (!events.exists || !events.populated) return
    yield* writeCgroupFile({ file: path.join(dir, "cgroup.kill"), value: "1" })
    yield* waitFor(dir, "kill", (e) => !e.populated, timeoutMs)
  })

/** Freezes or thaws everything below `dir` and waits until the kernel reports it done. */
export const setFrozen = (dir: string, frozen: boolean, timeoutMs = 10_000) =>
  writeCgroupFile({ file: path.join(dir, "cgroup.freeze"), value: frozen ? "1" : "0" }).pipe(
    Effect.zipRight(waitFor(dir, frozen ? "freeze" : "thaw", (e) => !e.exists || e.frozen === frozen || !e.populated, timeoutMs))
  )

const rmdirIfPresent = (dir: string) =>
  Effect.try({ try: () => fs.rmdirSync(dir), catch: (cause) => cause }).pipe(
    Effect.catchAll((cause) => (errnoOf(cause) === "ENOENT" ? Effect.void : Effect.fail(failure(dir, "rmdir")(cause))))
  )

/** Removes per-exec child cgroups that are empty; busy ones (background processes) stay. */
export const pruneExecCgroups = (paths: SandboxCgroupPaths) =>
  Effect.forEach(childDirs(paths.tracking), (dir) => rmdirIfPresent(dir).pipe(Effect.ignore), { discard: true })

/** Removes the sandbox's (empty) cgroups in every hierarchy. */
export const removeSandboxCgroup = (paths: SandboxCgroupPaths) =>
  Effect.gen(function* () {
    yield* Effect.forEach(childDirs(paths.tracking), rmdirIfPresent, { discard: true })
    yield* Effect.forEach([...paths.dirs].reverse(), rmdirIfPresent, { discard: true })
  })

/** Creates an exec's cgroup, a child of the tracking cgroup, so a timeout can kill exactly its tree. */
export const createExecCgroup = (dir: string) =>
  Effect.try({
    try: () => {
      fs.mkdirSync(dir)
      return dir
    },
    catch: failure(dir, "mkdir")
  })

/** Removes an exec's cgroup unless processes it left running in the background still live there. */
export const releaseExecCgroup = (dir: string) => rmdirIfPresent(dir).pipe(Effect.ignore)
