import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { createPublicKey, generateKeyPairSync } from "node:crypto"
import { publicKeyFromRaw, rawPublicKey, recordHash, signHash, verifyHashNacl, verifyHashNode } from "../../../src/domain/ledger/hash.js"
import { canonicalize } from "../../../src/domain/ledger/canonical-json.js"
import { commitment, redact, seal } from "../../../src/domain/ledger/sealed.js"
import { newWriter, nextRecord } from "../../support/record-builder.js"

describe("Ed25519 signatures", () => {
  it("node:crypto and tweetnacl agree on the same keys and bytes", () => {
    const keys = Array.from({ length: 4 }, () => generateKeyPairSync("ed25519"))
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), (bytes, k, tamper) => {
        const { privateKey } = keys[k]!
        const raw = rawPublicKey(createPublicKey(privateKey))
        const hash = Buffer.from(bytes).toString("hex")
        let sig = signHash(privateKey, hash)
        if (tamper) sig = (sig[0] === "0" ? "1" : "0") + sig.slice(1)
        const viaNode = verifyHashNode(publicKeyFromRaw(raw), hash, sig)
        const viaNacl = verifyHashNacl(raw, hash, sig)
        expect(viaNode).toBe(viaNacl)
        expect(viaNode).toBe(!tamper)
      })
    )
  })

  it("a signature does not verify under another writer's key", () => {
    const a = newWriter()
    const b = newWriter()
    const r = nextRecord(a, "sandbox-x", "CommandExecuted", {})
    expect(verifyHashNacl(Buffer.from(b.publicKeyHex, "hex"), r.hash, r.sig)).toBe(false)
    expect(verifyHashNacl(Buffer.from(a.publicKeyHex, "hex"), r.hash, r.sig)).toBe(true)
  })
})

describe("sealed values and redact", () => {
  it("the hash covers a sealed value's commitment, so redacting it keeps the hash", () => {
    const w = newWriter()
    const secret = "hunter2-password@example.com"
    const r = nextRecord(w, "sandbox-x", "CommandExecuted", { argv: seal(["login", secret], "00112233445566778899aabbccddeeff"), exitCode: 0 })
    const redacted = redact(r, ["argv"])
    expect(recordHash(redacted)).toBe(r.hash)
    expect(JSON.stringify(redacted)).not.toContain(secret)
    expect(JSON.stringify(redacted)).not.toContain("00112233445566778899aabbccddeeff")
    expect(redacted.data["argv"]).toEqual({ $redacted: commitment("00112233445566778899aabbccddeeff", ["login", secret]) })
  })

  it("changing a sealed value or its salt changes the hash", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.jsonValue(), (a, b) => {
        fc.pre(canonicalize(a) !== canonicalize(b))
        const salt = "aa".repeat(16)
        return commitment(salt, a) !== commitment(salt, b) && commitment(salt, a) !== commitment("bb".repeat(16), a)
      })
    )
  })

  it("redacting '*' removes every sealed value and nothing else", () => {
    const w = newWriter()
    const r = nextRecord(w, "sandbox-x", "FileChanged", { path: seal("secret/file.txt", "cc".repeat(16)), size: 10 })
    const redacted = redact(r, ["*"])
    expect(redacted.data["size"]).toBe(10)
    expect(JSON.stringify(redacted)).not.toContain("secret/file.txt")
    expect(recordHash(redacted)).toBe(r.hash)
  })
})
