// Content-addressed bytes beside the ledger (design.md §2): `<root>/sha256/<aa>/<hash>`. A record
// carries the hash, so the chain covers the content. Writes are atomic (temp file, fsync, rename);
// reads check the hash, so a changed blob is an error rather than silently different output.
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Data, Effect } from "effect"

export class BlobStoreFailure extends Data.TaggedError("BlobStoreFailure")<{
  readonly path: string
  readonly operation: string
  readonly reason: string
}> {
  override get message() {
    return `blob store: ${this.operation} failed at ${this.path}: ${this.reason}`
  }
}

export interface StoredBlob {
  readonly sha256: string
  readonly bytes: number
}

export interface BlobStore {
  readonly root: string
  readonly pathOf: (sha256: string) => string
  readonly put: (content: Uint8Array) => Effect.Effect<StoredBlob, BlobStoreFailure>
  /** null when no blob has this hash. */
  readonly get: (sha256: string) => Effect.Effect<Uint8Array | null, BlobStoreFailure>
}

export const blobsDir = (dataDir: string): string => path.join(dataDir, "blobs")

const SHA256 = /^[0-9a-f]{64}$/

const sha256Of = (content: Uint8Array) => createHash("sha256").update(content).digest("hex")

const reasonOf = (cause: unknown) => (cause instanceof Error ? cause.message : String(cause))

const writeAtomically = (dir: string, file: string, content: Uint8Array) => {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const temp = path.join(dir, `.tmp-${randomBytes(8).toString("hex")}`)
  const fd = fs.openSync(temp, "wx", 0o600)
  try {
    fs.writeFileSync(fd, content)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(temp, file)
  const dirFd = fs.openSync(dir, "r")
  try {
    fs.fsyncSync(dirFd)
  } finally {
    fs.closeSync(dirFd)
  }
}

export const makeBlobStore = (root: string): BlobStore => {
  const pathOf = (sha256: string) => path.join(root, "sha256", sha256.slice(0, 2), sha256)
  const put = (content: Uint8Array) =>
    Effect.try({
      try: () => {
        const sha256 = sha256Of(content)
        const file = pathOf(sha256)
        if (!fs.existsSync(file)) writeAtomically(path.dirname(file), file, content)
        return { sha256, bytes: content.byteLength }
      },
      catch: (cause) => new BlobStoreFailure({ path: root, operation: "put", reason: reasonOf(cause) })
    })
  const get = (sha256: string) =>
    Effect.gen(function* () {
      if (!SHA256.test(sha256)) return yield* new BlobStoreFailure({ path: root, operation: "get", reason: `not a SHA-256 hex digest: ${sha256}` })
      const file = pathOf(sha256)
      const content = yield* Effect.try({
        try: () => (fs.existsSync(file) ? new Uint8Array(fs.readFileSync(file)) : null),
        catch: (cause) => new BlobStoreFailure({ path: file, operation: "read", reason: reasonOf(cause) })
      })
      if (content !== null && sha256Of(content) !== sha256) {
        return yield* new BlobStoreFailure({ path: file, operation: "read", reason: "content does not match its hash (the file was changed)" })
      }
      return content
    })
  return { root, pathOf, put, get }
}
