// Opening the SQLite file with checks that turn a corrupt, truncated or unreadable file into one
// clear error naming the file, before SQLite can misbehave on it. Nothing is ever overwritten.
import Database from "better-sqlite3"
import { closeSync, constants, accessSync, existsSync, mkdirSync, openSync, readSync, statSync } from "node:fs"
import { dirname } from "node:path"
import { Effect } from "effect"
import { StoreCorrupt, StoreUnavailable } from "../event-store.js"
import { SCHEMA_SQL } from "./mapping.js"

const HEADER = "SQLite format 3\u0000"

const checkHeader = (file: string): string | null => {
  const size = statSync(file).size
  if (size === 0) return null // an empty file is a new database
  if (size < 100) return `truncated: ${size} bytes is shorter than an SQLite header`
  const fd = openSync(file, "r")
  try {
    const header = Buffer.alloc(100)
    readSync(fd, header, 0, 100, 0)
    if (header.toString("latin1", 0, 16) !== HEADER) return "not an SQLite database (bad header)"
    const rawPageSize = header.readUInt16BE(16)
    const pageSize = rawPageSize === 1 ? 65536 : rawPageSize
    const pages = header.readUInt32BE(28)
    // The in-header page count is only valid when the change counters match (SQLite §1.3.7).
    const valid = header.readUInt32BE(24) === header.readUInt32BE(92)
    if (valid && pages > 0 && size < pages * pageSize && !existsSync(`${file}-wal`))
      return `truncated: ${size} bytes, the header says ${pages} pages of ${pageSize} bytes`
    return null
  } finally {
    closeSync(fd)
  }
}

export const openDatabase = (file: string, options: { readonly readonly: boolean }) =>
  Effect.try({
    try: () => {
      if (existsSync(dirname(file))) accessSync(dirname(file), constants.R_OK | constants.X_OK)
      const exists = existsSync(file)
      if (!exists && options.readonly) throw new StoreUnavailable({ store: file, problem: "no ledger here (the file does not exist)" })
      if (!exists) {
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
        accessSync(dirname(file), constants.W_OK)
      }
      else accessSync(file, options.readonly ? constants.R_OK : constants.R_OK | constants.W_OK)
      if (exists) {
        const problem = checkHeader(file)
        if (problem) throw new StoreCorrupt({ store: file, problem })
      }
      const db = new Database(file, { readonly: options.readonly, fileMustExist: options.readonly })
      db.pragma("busy_timeout = 5000")
      if (!options.readonly) {
        db.pragma("journal_mode = WAL")
        db.pragma("synchronous = FULL")
        db.exec(SCHEMA_SQL)
      }
      const format = db.prepare("SELECT value FROM meta WHERE key = 'format'").pluck().get()
      if (format !== "hydravisor-ledger/1") {
        db.close()
        throw new StoreCorrupt({ store: file, problem: `not a Hydravisor ledger (format ${String(format)})` })
      }
      return db
    },
    catch: (e) => {
      if (e instanceof StoreCorrupt || e instanceof StoreUnavailable) return e
      const err = e as NodeJS.ErrnoException & { code?: string }
      if (err.code === "EACCES" || err.code === "EPERM")
        return new StoreUnavailable({ store: file, problem: `permission denied (${err.code})` })
      if (typeof err.code === "string" && err.code.startsWith("SQLITE_"))
        return new StoreCorrupt({ store: file, problem: `${err.message} (${err.code})` })
      return new StoreUnavailable({ store: file, problem: err.message })
    }
  })
