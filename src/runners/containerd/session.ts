// Ending one exec's whole process tree. runc makes every exec'd process the leader of a new session,
// and what it starts stays in that session unless it calls setsid itself; so the tree is every process
// of the container's cgroup whose session id is the exec's pid (as the host sees pids).
import { Effect } from "effect"
import * as fs from "node:fs"
import { listPids } from "../cgroups/cgroup.js"
import type { SandboxCgroupPaths } from "../cgroups/layout.js"

/** The session id from /proc/<pid>/stat (fields after the parenthesised command: state ppid pgrp session). */
export const sessionOfStat = (stat: string): number | null => {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  const session = Number(fields[3])
  return Number.isInteger(session) ? session : null
}

const sessionOf = (pid: number): number | null => {
  try {
    return sessionOfStat(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return null
  }
}

/** SIGKILLs every member of session `sid` in the sandbox until none is left (a member may fork meanwhile). */
export const killSession = (cgroups: SandboxCgroupPaths, sid: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (let round = 0; round < 200; round++) {
      const members = listPids(cgroups).filter((pid) => sessionOf(pid) === sid)
      if (members.length === 0) return
      for (const pid of members) {
        try {
          process.kill(pid, "SIGKILL")
        } catch {
          continue
        }
      }
      yield* Effect.sleep("5 millis")
    }
  })
