// The open-file limit a sandbox's processes get: what its spec asks for (`fileHandles`, from the
// policy or template), but never more than the runner's own hard RLIMIT_NOFILE. A process without
// CAP_SYS_RESOURCE cannot raise its hard limit, and no process can go past fs.nr_open, so asking for
// more would fail the launch; a policy limit is a ceiling, so the lower one is what it means here.
import { readFileSync } from "node:fs"
import type { SandboxResources } from "./runner.js"

/** This process's hard RLIMIT_NOFILE, from /proc/self/limits (Infinity when unlimited or unreadable). */
export const ownOpenFilesMax = (): number => {
  try {
    const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"))
    const hard = line?.trim().split(/\s+/)[4]
    return hard === undefined || hard === "unlimited" || !/^\d+$/.test(hard) ? Infinity : Number(hard)
  } catch {
    return Infinity
  }
}

/** The limit to apply for a spec's `fileHandles`, `max` being the runner's own (undefined: leave the runner's default). */
export const openFilesLimit = (fileHandles: number | undefined, max: number): number | undefined =>
  fileHandles === undefined ? undefined : Math.min(fileHandles, max)

/** `resources` with its `fileHandles` as it can be applied (unchanged when it has none). */
export const applicableResources = (resources: SandboxResources, max: number): SandboxResources => {
  const fileHandles = openFilesLimit(resources.fileHandles, max)
  return fileHandles === undefined ? resources : { ...resources, fileHandles }
}
