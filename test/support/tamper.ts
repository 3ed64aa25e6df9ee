// What an attacker with write access to the database file can do: rewrite bytes, delete, insert,
// duplicate and reorder rows, drop the constraints that would stop them.
import Database from "better-sqlite3"
import { cpSync } from "node:fs"
import { join } from "node:path"
import { ledgerFile, tempDir } from "./ledger-fixture.js"

export interface Row {
  readonly writer: string
  readonly seq: number
  readonly body: string
  readonly hash: string
  readonly prev: string | null
  readonly type: string
  readonly id: string
  readonly stream: string
  readonly revision: number
}

export const copyDataDir = (from: string): string => {
  const to = join(tempDir("hv-tamper-"), "data")
  cpSync(from, to, { recursive: true })
  return to
}

export const readRows = (dataDir: string): Array<Row> => {
  const db = new Database(ledgerFile(dataDir), { readonly: true })
  try {
    return db.prepare("SELECT writer, seq, body, hash, prev, type, id, stream, revision FROM records ORDER BY pos").all() as Array<Row>
  } finally {
    db.close()
  }
}

/** Replaces the whole table with `rows` in the given order, without the unique constraints. */
export const rewriteRows = (dataDir: string, rows: ReadonlyArray<Row>) => {
  const db = new Database(ledgerFile(dataDir))
  try {
    db.exec("DROP TABLE records")
    db.exec(
      "CREATE TABLE records (pos INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT, stream TEXT, revision INTEGER, type TEXT, writer TEXT, seq INTEGER, prev TEXT, hash TEXT, body TEXT)"
    )
    const insert = db.prepare("INSERT INTO records (id, stream, revision, type, writer, seq, prev, hash, body) VALUES (@id, @stream, @revision, @type, @writer, @seq, @prev, @hash, @body)")
    db.transaction(() => rows.forEach((r) => insert.run(r)))()
  } finally {
    db.close()
  }
}

/** Sets one byte of a stored body to another value (bytes as UTF-8). */
export const mutateByte = (body: string, index: number, value: number): string => {
  const bytes = Buffer.from(body, "utf8")
  const i = index % bytes.length
  bytes[i] = value === bytes[i] ? (value + 1) % 256 : value
  return bytes.toString("utf8")
}
