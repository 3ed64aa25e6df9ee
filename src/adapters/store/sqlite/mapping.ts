// Rows of the `records` table <-> ledger records. The body is the record's JSON; the other columns
// are indexes over it (verification --full trusts only the body, --fast trusts the hash columns).
import { Either } from "effect"
import { decodeLedgerRecordJson, type LedgerRecord } from "../../../domain/ledger/record.js"
import type { Position, StoredRecord } from "../event-store.js"

export interface RecordRow {
  readonly pos: number
  readonly body: string
}

export const toRowValues = (record: LedgerRecord) => ({
  id: record.id,
  stream: record.stream,
  revision: record.revision,
  type: record.type,
  writer: record.chain.writer,
  seq: record.chain.seq,
  prev: record.chain.prev,
  hash: record.hash,
  body: JSON.stringify(record)
})

export const positionOf = (pos: number | bigint): Position => {
  const p = BigInt(pos)
  return { commit: p, prepare: p }
}

export const rowidOf = (position: Position | undefined): number =>
  position === undefined || position.commit < 0n ? 0 : Number(position.commit)

export const fromRow = (row: RecordRow): Either.Either<StoredRecord, string> =>
  Either.match(decodeLedgerRecordJson(row.body), {
    onLeft: (e) => Either.left(`record at position ${row.pos} does not decode: ${e.message.split("\n").slice(0, 3).join(" ")}`),
    onRight: (record) => Either.right({ position: positionOf(row.pos), record })
  })

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS records (
  pos      INTEGER PRIMARY KEY AUTOINCREMENT,
  id       TEXT NOT NULL UNIQUE,
  stream   TEXT NOT NULL,
  revision INTEGER NOT NULL,
  type     TEXT NOT NULL,
  writer   TEXT NOT NULL,
  seq      INTEGER NOT NULL,
  prev     TEXT,
  hash     TEXT NOT NULL,
  body     TEXT NOT NULL,
  UNIQUE (stream, revision),
  UNIQUE (writer, seq)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('format', 'hydravisor-ledger/1');
`
