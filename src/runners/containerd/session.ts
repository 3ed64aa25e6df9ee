// Ending one exec's whole process tree. Each exec gets a session of its own — runc makes the exec'd
// process its leader, crun its short-lived parent — and what it starts stays in that session unless it
// calls setsid itself; so the tree is every process of the container's cgroup in the exec's session.
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

/**
 * SIGKILLs every member of `pid`'s session in the sandbox until none is left (a member may fork
 * meanwhile). Ids as the host sees them; an exited `pid` counts as its own session (runc's case).
 */
export const killSession = (cgroups: SandboxCgroupPaths, pid: number): Effect.Effect<void> =>
  Effect.gen(function* () {
    const sid = sessionOf(pid) ?? pid
    for (let round = 0; round < 200; round++) {
      const members = listPids(cgroups).filter((member) => sessionOf(member) === sid)
      if (members.length === 0) return
      for (const member of members) {
        try {
          process.kill(member, "SIGKILL")
        } catch {
          continue
        }
      }
      yield* Effect.sleep("5 millis")
    }
  })
