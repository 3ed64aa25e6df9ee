// One writer per data dir: a lock file holding the writer's pid. A lock left by a dead process
// (kill -9, power loss) is taken over; a live one is an error naming the pid.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs"
import { join } from "node:path"
import { Data, Effect } from "effect"

export class WriterBusy extends Data.TaggedError("WriterBusy")<{ readonly file: string; readonly pid: number }> {
  override get message() {
    return `${this.file}: another Hydravisor writer (pid ${this.pid}) is using this data dir; stop it (or use the daemon) first`
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const tryCreate = (file: string): boolean => {
  try {
    const fd = openSync(file, "wx", 0o600)
    writeSync(fd, String(process.pid))
    closeSync(fd)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false
    throw e
  }
}

export const acquireWriterLock = (dataDir: string) =>
  Effect.acquireRelease(
    Effect.try({
      try: () => {
        const file = join(dataDir, "writer.lock")
        for (let attempt = 0; attempt < 3; attempt++) {
          if (tryCreate(file)) return file
          const pid = Number(readFileSync(file, "utf8").trim())
          if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) throw new WriterBusy({ file, pid })
          rmSync(file, { force: true })
        }
        throw new WriterBusy({ file, pid: -1 })
      },
      catch: (e) => (e instanceof WriterBusy ? e : new WriterBusy({ file: join(dataDir, "writer.lock"), pid: -1 }))
    }),
    (file) => Effect.sync(() => rmSync(file, { force: true }))
  )
