// The writer's key against the ledger's record of it: the key file must hold the key the ledger last
// registered or rotated to; a staged next key (a rotation interrupted after its record was written)
// is promoted, a stale staged key discarded. Also where the writer's last checkpoint is.
import { Data, Effect, Stream } from "effect"
import { Checkpoint, WriterKeyRegistered, WriterKeyRotated, keyStream } from "../../domain/ledger/ledger-events.js"
import type { EventStoreShape } from "../store/event-store.js"
import { discardStagedKey, promoteStagedKey, readStagedKey, type WriterKey } from "../keys/key-store.js"

export class KeyMismatch extends Data.TaggedError("KeyMismatch")<{ readonly file: string; readonly keyId: string; readonly ledgerKeyId: string; readonly writer: string }> {
  override get message() {
    return `${this.file}: holds key ${this.keyId}, but the ledger's current key for writer ${this.writer} is ${this.ledgerKeyId} (wrong key file?)`
  }
}

/** The writer's current key id and last checkpoint seq, from its key stream. */
export const lastChainEvents = (store: EventStoreShape, writer: string) =>
  store.readStream(keyStream(writer)).pipe(
    Stream.runFold({ keyId: null as string | null, checkpointSeq: null as number | null }, (acc, { record }) => {
      if (record.type === WriterKeyRegistered.type || record.type === WriterKeyRotated.type) return { ...acc, keyId: String(record.data["keyId"]) }
      if (record.type === Checkpoint.type) return { ...acc, checkpointSeq: record.chain.seq }
      return acc
    })
  )

/** The key to sign with: `loaded`, or the staged key the ledger already rotated to; else KeyMismatch. */
export const reconcileKey = (store: EventStoreShape, dataDir: string, loaded: WriterKey) =>
  Effect.gen(function* () {
    const { keyId: ledgerKeyId } = yield* lastChainEvents(store, loaded.writerId)
    const staged = yield* readStagedKey(dataDir, loaded.writerId)
    if (ledgerKeyId === null || ledgerKeyId === loaded.keyId) {
      if (staged) yield* discardStagedKey(dataDir)
      return loaded
    }
    if (staged && staged.keyId === ledgerKeyId) {
      yield* promoteStagedKey(dataDir, staged)
      return staged
    }
    return yield* Effect.fail(new KeyMismatch({ file: `${dataDir}/keys/writer.key`, keyId: loaded.keyId, ledgerKeyId, writer: loaded.writerId }))
  })
