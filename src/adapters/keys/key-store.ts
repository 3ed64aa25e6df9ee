// The writer's Ed25519 key under the data dir: created on first start, private file mode 0600,
// refused when others can read it. Rotation stages the next key beside the current one so that a
// crash between "rotation recorded" and "file replaced" is finished on the next start.
import { generateKeyPairSync, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto"
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, openSync, fsyncSync, closeSync } from "node:fs"
import { join } from "node:path"
import { Data, Effect } from "effect"
import { keyIdOf, rawPublicKey } from "../../domain/ledger/hash.js"

export class KeyFileInsecure extends Data.TaggedError("KeyFileInsecure")<{ readonly file: string; readonly mode: number }> {
  override get message() {
    const mode = (this.mode & 0o777).toString(8).padStart(4, "0")
    return `${this.file}: refusing to use a private key readable by others (mode ${mode}); run: chmod 600 ${this.file}`
  }
}

export class KeyFileInvalid extends Data.TaggedError("KeyFileInvalid")<{ readonly file: string; readonly problem: string }> {
  override get message() {
    return `${this.file}: ${this.problem}`
  }
}

export type KeyError = KeyFileInsecure | KeyFileInvalid

export interface WriterKey {
  /** the chain's identity: key id of the writer's first key; stays across rotations */
  readonly writerId: string
  readonly keyId: string
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  readonly publicKeyRaw: Uint8Array
  readonly pkcs8: Buffer
}

interface WriterFile {
  readonly writerId: string
  readonly keyId: string
  readonly publicKey: string
}

export const keyPaths = (dataDir: string) => {
  const dir = join(dataDir, "keys")
  return {
    dir,
    privateKey: join(dir, "writer.key"),
    nextKey: join(dir, "writer.key.next"),
    writer: join(dir, "writer.json")
  }
}

const writeDurably = (file: string, content: string | Buffer, mode: number) => {
  const fd = openSync(file, "w", mode)
  try {
    writeFileSync(fd, content)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  chmodSync(file, mode)
}

const readPrivateKey = (file: string): { key: KeyObject; pkcs8: Buffer } => {
  const st = statSync(file)
  if ((st.mode & 0o077) !== 0) throw new KeyFileInsecure({ file, mode: st.mode })
  let key: KeyObject
  try {
    key = createPrivateKey(readFileSync(file))
  } catch (e) {
    throw new KeyFileInvalid({ file, problem: `not a PEM private key (${(e as Error).message})` })
  }
  if (key.asymmetricKeyType !== "ed25519")
    throw new KeyFileInvalid({ file, problem: `an ${key.asymmetricKeyType ?? "unknown"} key; the ledger signs with Ed25519` })
  return { key, pkcs8: key.export({ format: "der", type: "pkcs8" }) as Buffer }
}

const toWriterKey = (writerId: string, key: KeyObject, pkcs8: Buffer): WriterKey => {
  const publicKey = createPublicKey(key)
  const publicKeyRaw = rawPublicKey(publicKey)
  return { writerId, keyId: keyIdOf(publicKeyRaw), privateKey: key, publicKey, publicKeyRaw, pkcs8 }
}

const newKeyPem = () => generateKeyPairSync("ed25519").privateKey.export({ format: "pem", type: "pkcs8" }) as string

const guard = <A>(f: () => A): Effect.Effect<A, KeyError> =>
  Effect.try({
    try: f,
    catch: (e) =>
      e instanceof KeyFileInsecure || e instanceof KeyFileInvalid
        ? e
        : new KeyFileInvalid({ file: (e as { path?: string }).path ?? "keys", problem: (e as Error).message })
  })

/** Loads the writer key, creating it (and the writer identity) on first start. */
export const loadOrCreateWriterKey = (dataDir: string): Effect.Effect<{ key: WriterKey; created: boolean }, KeyError> =>
  guard(() => {
    const paths = keyPaths(dataDir)
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 })
    if (!existsSync(paths.privateKey)) {
      if (existsSync(paths.writer))
        throw new KeyFileInvalid({ file: paths.privateKey, problem: `missing, but ${paths.writer} says a key existed; restore it from backup` })
      writeDurably(paths.privateKey, newKeyPem(), 0o600)
      const { key, pkcs8 } = readPrivateKey(paths.privateKey)
      const writerKey = toWriterKey("", key, pkcs8)
      const writer: WriterFile = { writerId: writerKey.keyId, keyId: writerKey.keyId, publicKey: Buffer.from(writerKey.publicKeyRaw).toString("hex") }
      writeDurably(paths.writer, JSON.stringify(writer, null, 2) + "\n", 0o644)
      return { key: { ...writerKey, writerId: writerKey.keyId }, created: true }
    }
    let writer: WriterFile
    try {
      writer = JSON.parse(readFileSync(paths.writer, "utf8")) as WriterFile
    } catch (e) {
      throw new KeyFileInvalid({ file: paths.writer, problem: `unreadable writer identity (${(e as Error).message})` })
    }
    if (existsSync(paths.nextKey)) {
      const staged = readPrivateKey(paths.nextKey)
      if (toWriterKey(writer.writerId, staged.key, staged.pkcs8).keyId === writer.keyId) renameSync(paths.nextKey, paths.privateKey)
    }
    const { key, pkcs8 } = readPrivateKey(paths.privateKey)
    const writerKey = toWriterKey(writer.writerId, key, pkcs8)
    if (typeof writer.writerId !== "string" || !/^[0-9a-f]{16}$/.test(writer.writerId))
      throw new KeyFileInvalid({ file: paths.writer, problem: "writerId is missing or malformed" })
    if (writer.keyId !== writerKey.keyId)
      throw new KeyFileInvalid({ file: paths.privateKey, problem: `holds key ${writerKey.keyId}, but ${paths.writer} names key ${writer.keyId}` })
    return { key: writerKey, created: false }
  })

/** A staged next key, if a rotation was interrupted. */
export const readStagedKey = (dataDir: string, writerId: string): Effect.Effect<WriterKey | null, KeyError> =>
  guard(() => {
    const paths = keyPaths(dataDir)
    if (!existsSync(paths.nextKey)) return null
    const { key, pkcs8 } = readPrivateKey(paths.nextKey)
    return toWriterKey(writerId, key, pkcs8)
  })

export const stageNextKey = (dataDir: string, writerId: string): Effect.Effect<WriterKey, KeyError> =>
  guard(() => {
    const paths = keyPaths(dataDir)
    writeDurably(paths.nextKey, newKeyPem(), 0o600)
    const { key, pkcs8 } = readPrivateKey(paths.nextKey)
    return toWriterKey(writerId, key, pkcs8)
  })

/** Makes the staged key current, after its WriterKeyRotated record is durable. */
export const promoteStagedKey = (dataDir: string, next: WriterKey): Effect.Effect<void, KeyError> =>
  guard(() => {
    const paths = keyPaths(dataDir)
    const writer: WriterFile = { writerId: next.writerId, keyId: next.keyId, publicKey: Buffer.from(next.publicKeyRaw).toString("hex") }
    writeDurably(`${paths.writer}.tmp`, JSON.stringify(writer, null, 2) + "\n", 0o644)
    // writer.json first: a crash between the renames leaves it naming the staged key, which load finishes.
    renameSync(`${paths.writer}.tmp`, paths.writer)
    renameSync(paths.nextKey, paths.privateKey)
  })

export const discardStagedKey = (dataDir: string): Effect.Effect<void, KeyError> =>
  guard(() => rmSync(keyPaths(dataDir).nextKey, { force: true }))
