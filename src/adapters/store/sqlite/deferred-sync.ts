// Deferred durability for the SQLite store (docs/decisions.md, "Monitor observations do not wait for
// the disk"). A transaction made only of deferred appends commits with synchronous=NORMAL: its WAL
// frames reach the OS but the commit does not fsync. They become durable with the next immediate
// commit (synchronous=FULL fsyncs the WAL, and with it every frame before), or here, `delayMs` after
// the first of them (1 ms in the store: the sync then runs while an exec's command does, not inside
// the fsync of the exec's result), by an fdatasync of the WAL on libuv's thread pool. SQLite's WAL
// recovery keeps a prefix, so a power loss can only cut off the newest deferred records; a crash of
// the process loses nothing (the OS has the bytes).
import { closeSync, fdatasync, fdatasyncSync, openSync } from "node:fs"
import type BetterSqlite3 from "better-sqlite3"

export interface DeferredSync {
  /** Before a batch's transaction: sets `synchronous` to what the batch needs. */
  readonly begin: (deferred: boolean) => void
  /** After a batch committed. */
  readonly committed: (deferred: boolean) => void
  /** Deferred commits not yet known to be on disk. */
  readonly unsynced: () => number
  /** Syncs what is pending, on this thread, and stops the timer; the store is closing. */
  readonly close: () => void
}

export const makeDeferredSync = (db: BetterSqlite3.Database, walFile: string, delayMs: number): DeferredSync => {
  let full = true
  let unsynced = 0
  // Bumped by every immediate commit: a sync that started before one has nothing left to account for.
  let generation = 0
  let timer: NodeJS.Timeout | null = null
  let fd: number | null = null
  let inFlight = false
  let closed = false

  const walFd = () => (fd ??= openSync(walFile, "r"))

  const schedule = () => {
    if (timer !== null || inFlight || closed) return
    timer = setTimeout(syncSoon, delayMs)
    timer.unref()
  }

  // A failure here (the WAL cannot be opened or synced) leaves the commits counted as unsynced and
  // tries again later; the next immediate commit's own fsync covers them either way.
  function syncSoon() {
    timer = null
    if (unsynced === 0 || closed) return
    const from = generation
    const covered = unsynced
    let target: number
    try {
      target = walFd()
    } catch {
      return schedule()
    }
    inFlight = true
    fdatasync(target, (error) => {
      inFlight = false
      if (closed) return closeFd()
      if (error === null && generation === from) unsynced -= covered
      if (unsynced > 0) schedule()
    })
  }

  const closeFd = () => {
    if (fd !== null) closeSync(fd)
    fd = null
  }

  return {
    begin: (deferred) => {
      if (deferred === !full) return
      // Compiled every time: SQLite applies `PRAGMA synchronous = …` while compiling it, so a statement
      // prepared once would do nothing when run again (the strace durability test catches that).
      db.pragma(deferred ? "synchronous = NORMAL" : "synchronous = FULL")
      full = !deferred
    },
    committed: (deferred) => {
      if (!deferred) {
        generation++
        unsynced = 0
        if (timer !== null) clearTimeout(timer)
        timer = null
        return
      }
      unsynced++
      schedule()
    },
    unsynced: () => unsynced,
    close: () => {
      if (timer !== null) clearTimeout(timer)
      timer = null
      try {
        if (unsynced > 0) fdatasyncSync(walFd())
        unsynced = 0
      } catch {
        // closing the database checkpoints the WAL, which syncs it too
      }
      closed = true
      if (!inFlight) closeFd()
    }
  }
}
