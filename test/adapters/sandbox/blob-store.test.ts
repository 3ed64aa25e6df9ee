// The content-addressed blob store that command output goes to.
import { describe, expect, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect } from "effect"
import { makeBlobStore } from "../../../src/adapters/blobs/blob-store.js"
import { dataDir } from "./service-fixture.js"

describe("blob store", () => {
  it.scoped("stores bytes under sha256/<aa>/<hash>, once, and reads them back", () =>
    Effect.gen(function* () {
      const blobs = makeBlobStore(path.join(yield* dataDir, "blobs"))
      const content = new TextEncoder().encode("hello\n")
      const hash = createHash("sha256").update(content).digest("hex")
      expect(yield* blobs.put(content)).toEqual({ sha256: hash, bytes: 6 })
      expect(yield* blobs.put(content)).toEqual({ sha256: hash, bytes: 6 })
      expect(blobs.pathOf(hash)).toBe(path.join(blobs.root, "sha256", hash.slice(0, 2), hash))
      expect(fs.readdirSync(path.dirname(blobs.pathOf(hash)))).toEqual([hash])
      expect(yield* blobs.get(hash)).toEqual(content)
      expect(yield* blobs.put(new Uint8Array())).toMatchObject({ bytes: 0 })
      expect(yield* blobs.get("f".repeat(64))).toBeNull()
    })
  )

  it.scoped("refuses a malformed hash and a blob whose content changed", () =>
    Effect.gen(function* () {
      const blobs = makeBlobStore(path.join(yield* dataDir, "blobs"))
      expect((yield* Effect.flip(blobs.get("../../etc/passwd"))).message).toContain("not a SHA-256")
      const { sha256 } = yield* blobs.put(new TextEncoder().encode("original"))
      fs.chmodSync(blobs.pathOf(sha256), 0o600)
      fs.writeFileSync(blobs.pathOf(sha256), "tampered")
      expect((yield* Effect.flip(blobs.get(sha256))).message).toContain("does not match its hash")
    })
  )
})
