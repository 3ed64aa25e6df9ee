// Record hashing and Ed25519 signatures. Signing uses node:crypto (fast, the hot path); verification
// is available through node:crypto and through tweetnacl, which agree on the same keys and bytes.
import { createHash, createPublicKey, sign, verify, type KeyObject } from "node:crypto"
import nacl from "tweetnacl"
import { canonicalize } from "./canonical-json.js"
import type { UnsignedRecord } from "./record.js"
import { hashView } from "./sealed.js"

/** The canonical bytes the hash covers: the record without hash and sig, sealed values as commitments. */
export const hashedText = (record: UnsignedRecord): string =>
  canonicalize({
    id: record.id,
    stream: record.stream,
    type: record.type,
    revision: record.revision,
    at: record.at,
    actor: record.actor,
    correlation: record.correlation,
    causation: record.causation,
    data: hashView(record.data),
    chain: record.chain
  })

export const recordHash = (record: UnsignedRecord): string =>
  createHash("sha256").update(hashedText(record), "utf8").digest("hex")

export const sha256Hex = (bytes: Uint8Array | string): string =>
  createHash("sha256").update(bytes).digest("hex")

const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex")

export const publicKeyFromRaw = (raw: Uint8Array): KeyObject =>
  createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: "der", type: "spki" })

export const rawPublicKey = (key: KeyObject): Uint8Array =>
  key.export({ format: "der", type: "spki" }).subarray(SPKI_ED25519_PREFIX.length)

/** A key's id: the first 16 hex digits of SHA-256 over its raw 32-byte public key. */
export const keyIdOf = (rawPublic: Uint8Array): string => sha256Hex(rawPublic).slice(0, 16)

export const signHash = (privateKey: KeyObject, hashHex: string): string =>
  sign(null, Buffer.from(hashHex, "hex"), privateKey).toString("hex")

export const verifyHashNode = (publicKey: KeyObject, hashHex: string, sigHex: string): boolean =>
  sigHex.length === 128 && verify(null, Buffer.from(hashHex, "hex"), publicKey, Buffer.from(sigHex, "hex"))

export const verifyHashNacl = (rawPublic: Uint8Array, hashHex: string, sigHex: string): boolean =>
  sigHex.length === 128 &&
  rawPublic.length === 32 &&
  nacl.sign.detached.verify(Buffer.from(hashHex, "hex"), Buffer.from(sigHex, "hex"), rawPublic)
