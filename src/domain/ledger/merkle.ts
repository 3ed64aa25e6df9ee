// RFC 6962 / RFC 9162 Merkle tree over ledger records: leaf and node hashing, a compact range that
// folds a stream of leaves into the tree head in O(log n) memory, and inclusion and consistency
// proofs with the RFC 9162 verification algorithms. Pure functions; hashes are 32-byte Uint8Arrays.
import * as crypto from "node:crypto"

const HASH_SIZE = 32
const MAX_SCRATCH_LEAF = 64 * 1024

// Internally a digest may be a 32-char latin1 ("binary") string: crypto.hash(..., "binary") plus a pooled
// Buffer.from is ~2x cheaper than crypto.hash(..., "buffer"), which allocates an ArrayBuffer per call.
type Digest = string | Uint8Array

const { createHash } = crypto
// crypto.hash arrived in Node 20.12; the engines field allows any Node 20.
const hash: (algorithm: "sha256", data: Uint8Array, encoding: "binary") => string =
  typeof crypto.hash === "function"
    ? crypto.hash
    : (algorithm, data, encoding) => createHash(algorithm).update(data).digest(encoding)

const nodeScratch = Buffer.allocUnsafe(1 + 2 * HASH_SIZE)
nodeScratch[0] = 0x01
let leafScratch = Buffer.allocUnsafe(1024)

const put = (target: Buffer, digest: Digest, offset: number): void => {
  if (typeof digest === "string") target.write(digest, offset, "latin1")
  else target.set(digest, offset)
}

const toLatin1 = (bytes: Uint8Array): string =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1")

const toBytes = (digest: Digest): Uint8Array =>
  typeof digest === "string" ? Buffer.from(digest, "latin1") : Uint8Array.from(digest)

const leafDigest = (data: Uint8Array): string => {
  if (data.length >= MAX_SCRATCH_LEAF) {
    return createHash("sha256").update(Buffer.of(0x00)).update(data).digest("binary")
  }
  if (data.length + 1 > leafScratch.length) {
    let capacity = leafScratch.length
    while (capacity < data.length + 1) capacity *= 2
    leafScratch = Buffer.allocUnsafe(capacity)
  }
  leafScratch[0] = 0x00
  leafScratch.set(data, 1)
  return hash("sha256", leafScratch.subarray(0, data.length + 1), "binary")
}

const nodeDigest = (left: Digest, right: Digest): string => {
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    return createHash("sha256")
      .update(Buffer.of(0x01))
      .update(typeof left === "string" ? Buffer.from(left, "latin1") : left)
      .update(typeof right === "string" ? Buffer.from(right, "latin1") : right)
      .digest("binary")
  }
  put(nodeScratch, left, 1)
  put(nodeScratch, right, 1 + HASH_SIZE)
  return hash("sha256", nodeScratch, "binary")
}

const digestEquals = (digest: Digest, bytes: Uint8Array): boolean => {
  if (digest.length !== bytes.length) return false
  for (let i = 0; i < bytes.length; i++) {
    const d = typeof digest === "string" ? digest.charCodeAt(i) : digest[i]
    if (d !== bytes[i]) return false
  }
  return true
}

const EMPTY_ROOT = hash("sha256", new Uint8Array(0), "binary")

/** SHA-256(0x00 ‖ data): the hash of a leaf entry. */
export const leafHash = (data: Uint8Array): Uint8Array => toBytes(leafDigest(data))

/** SHA-256(0x01 ‖ left ‖ right): the hash of an interior node. */
export const nodeHash = (left: Uint8Array, right: Uint8Array): Uint8Array => toBytes(nodeDigest(left, right))

/** Running Merkle tree head: the roots of the perfect subtrees covering [0, size), largest first. */
export class CompactRange {
  #size = 0
  readonly #peaks: string[] = []

  get size(): number {
    return this.#size
  }

  append(leafData: Uint8Array): void {
    this.#push(leafDigest(leafData))
  }

  appendLeafHash(leafHashValue: Uint8Array): void {
    if (leafHashValue.length !== HASH_SIZE) {
      throw new RangeError(`leaf hash must be ${HASH_SIZE} bytes, got ${leafHashValue.length}`)
    }
    this.#push(toLatin1(leafHashValue))
  }

  /** MTH of everything appended so far; SHA-256("") when empty. */
  root(): Uint8Array {
    const peaks = this.#peaks
    let acc = peaks[peaks.length - 1] ?? EMPTY_ROOT
    for (let i = peaks.length - 2; i >= 0; i--) acc = nodeDigest(peaks[i] as string, acc)
    return toBytes(acc)
  }

  #push(digest: string): void {
    let carry = digest
    // Each trailing 1 bit of the old size is a perfect subtree of the new leaf's height to merge with.
    for (let n = this.#size; n % 2 === 1; n = (n - 1) / 2) {
      carry = nodeDigest(this.#peaks.pop() as string, carry)
    }
    this.#peaks.push(carry)
    this.#size += 1
  }
}

export const compactRange = (): CompactRange => new CompactRange()

/** MTH(D[n]) over leaf data, per RFC 9162 §2.1.1. */
export const rootOf = (leafData: ReadonlyArray<Uint8Array>): Uint8Array => {
  const range = new CompactRange()
  for (const data of leafData) range.append(data)
  return range.root()
}

const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0

/** The largest power of two strictly less than n (n >= 2): the RFC's split point k. */
const splitPoint = (n: number): number => {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

const isPowerOfTwo = (n: number): boolean => {
  if (n < 1) return false
  while (n % 2 === 0) n /= 2
  return n === 1
}

const shiftRight = (n: number): number => Math.floor(n / 2)

/** MTH of leafHashes[lo, hi), hi > lo. */
const subtreeDigest = (leafHashes: ReadonlyArray<Uint8Array>, lo: number, hi: number): Digest => {
  if (hi - lo === 1) return leafHashes[lo] as Uint8Array
  const mid = lo + splitPoint(hi - lo)
  return nodeDigest(subtreeDigest(leafHashes, lo, mid), subtreeDigest(leafHashes, mid, hi))
}

const checkPrefix = (leafHashes: ReadonlyArray<Uint8Array>, size: number): void => {
  if (!isCount(size) || size > leafHashes.length) {
    throw new RangeError(`tree size ${size} is not within the ${leafHashes.length} leaves given`)
  }
}

/** PATH(index, D[size]) per RFC 9162 §2.1.3.1, over leaf hashes; the lowest sibling first. */
export const inclusionProof = (
  leafHashes: ReadonlyArray<Uint8Array>,
  index: number,
  size: number
): Uint8Array[] => {
  checkPrefix(leafHashes, size)
  if (!isCount(index) || index >= size) throw new RangeError(`leaf index ${index} is not below tree size ${size}`)
  const siblings: Digest[] = []
  let lo = 0
  let hi = size
  while (hi - lo > 1) {
    const mid = lo + splitPoint(hi - lo)
    if (index < mid) {
      siblings.push(subtreeDigest(leafHashes, mid, hi))
      hi = mid
    } else {
      siblings.push(subtreeDigest(leafHashes, lo, mid))
      lo = mid
    }
  }
  return siblings.reverse().map(toBytes)
}

/** RFC 9162 §2.1.3.2, plus a length check on every hash. */
export const verifyInclusion = (
  leafHashValue: Uint8Array,
  index: number,
  size: number,
  proof: ReadonlyArray<Uint8Array>,
  root: Uint8Array
): boolean => {
  if (!isCount(index) || !isCount(size) || index >= size) return false
  if (leafHashValue.length !== HASH_SIZE || proof.some((p) => p.length !== HASH_SIZE)) return false
  let fn = index
  let sn = size - 1
  let r: Digest = leafHashValue
  for (const p of proof) {
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      r = nodeDigest(p, r)
      while (fn % 2 === 0 && fn !== 0) {
        fn = shiftRight(fn)
        sn = shiftRight(sn)
      }
    } else {
      r = nodeDigest(r, p)
    }
    fn = shiftRight(fn)
    sn = shiftRight(sn)
  }
  return sn === 0 && digestEquals(r, root)
}

/**
 * PROOF(size1, D[size2]) per RFC 9162 §2.1.4.1, over leaf hashes. Requires 0 < size1 <= size2;
 * equal sizes give the empty proof.
 */
export const consistencyProof = (
  leafHashes: ReadonlyArray<Uint8Array>,
  size1: number,
  size2: number
): Uint8Array[] => {
  checkPrefix(leafHashes, size2)
  if (!isCount(size1) || size1 === 0 || size1 > size2) {
    throw new RangeError(`consistency needs 0 < size1 <= size2, got ${size1} and ${size2}`)
  }
  // SUBPROOF(m, D[lo:hi], haveRoot), unrolled; nodes are collected top-down and reversed at the end.
  const nodes: Digest[] = []
  let m = size1
  let lo = 0
  let hi = size2
  let haveRoot = true
  while (m !== hi - lo) {
    const k = splitPoint(hi - lo)
    if (m <= k) {
      nodes.push(subtreeDigest(leafHashes, lo + k, hi))
      hi = lo + k
    } else {
      nodes.push(subtreeDigest(leafHashes, lo, lo + k))
      lo += k
      m -= k
      haveRoot = false
    }
  }
  if (!haveRoot) nodes.push(subtreeDigest(leafHashes, lo, hi))
  return nodes.reverse().map(toBytes)
}

/**
 * RFC 9162 §2.1.4.2 for 0 < size1 < size2. As in transparency-dev/merkle, size1 == size2 holds
 * only with an empty proof and root1 == root2, and size1 == 0 is always rejected: a proof from
 * the empty tree proves nothing.
 */
export const verifyConsistency = (
  size1: number,
  size2: number,
  root1: Uint8Array,
  root2: Uint8Array,
  proof: ReadonlyArray<Uint8Array>
): boolean => {
  if (!isCount(size1) || !isCount(size2) || size1 === 0 || size1 > size2) return false
  if (size1 === size2) return proof.length === 0 && digestEquals(root1, root2)
  if (proof.length === 0) return false
  if (root1.length !== HASH_SIZE || root2.length !== HASH_SIZE) return false
  if (proof.some((p) => p.length !== HASH_SIZE)) return false
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof
  let fn = size1 - 1
  let sn = size2 - 1
  while (fn % 2 === 1) {
    fn = shiftRight(fn)
    sn = shiftRight(sn)
  }
  let fr: Digest = path[0] as Uint8Array
  let sr: Digest = fr
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Uint8Array
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeDigest(c, fr)
      sr = nodeDigest(c, sr)
      while (fn % 2 === 0 && fn !== 0) {
        fn = shiftRight(fn)
        sn = shiftRight(sn)
      }
    } else {
      sr = nodeDigest(sr, c)
    }
    fn = shiftRight(fn)
    sn = shiftRight(sn)
  }
  return sn === 0 && digestEquals(fr, root1) && digestEquals(sr, root2)
}
