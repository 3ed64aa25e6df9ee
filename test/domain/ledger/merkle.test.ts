import { createHash } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  CompactRange,
  compactRange,
  consistencyProof,
  inclusionProof,
  leafHash,
  nodeHash,
  rootOf,
  verifyConsistency,
  verifyInclusion
} from "../../../src/domain/ledger/merkle.js"

// ---- vectors (see vectors/merkle/README.md for provenance) ----

const VECTORS = fileURLToPath(new URL("./vectors/merkle/", import.meta.url))

const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"))
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"))
const sha256 = (...parts: Uint8Array[]): Uint8Array => {
  const h = createHash("sha256")
  for (const part of parts) h.update(part)
  return new Uint8Array(h.digest())
}

interface ReferenceTree {
  hasher: {
    emptyRoot: string
    emptyLeaf: string
    leaf: { dataUtf8: string; hash: string }
    node: { leftUtf8: string; rightUtf8: string; hash: string }
  }
  leafInputs: string[]
  nodeHashesByLevel: string[][]
  rootsBySize: string[]
  inclusionProofs: { index: number; size: number; proof: string[] }[]
  consistencyProofs: { size1: number; size2: number; proof: string[] }[]
  subtreeDigests: { maxSize: number; hashLines: { sha256: string }; inclusionLines: { sha256: string } }
}

const reference = JSON.parse(readFileSync(join(VECTORS, "rfc6962-reference-tree.json"), "utf8")) as ReferenceTree
const referenceLeaves = reference.leafInputs.map(unhex)
const referenceLeafHashes = referenceLeaves.map(leafHash)
const referenceRoot = (size: number): string => {
  const root = reference.rootsBySize[size]
  if (root === undefined) throw new Error(`no reference root for size ${size}`)
  return root
}

interface Probe<T> {
  name: string
  wantErr: boolean
  probe: T
}

const loadProbes = <T>(folder: string): Probe<T>[] =>
  readdirSync(join(VECTORS, folder), { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".json"))
    .sort()
    .map((file) => {
      const json = JSON.parse(readFileSync(join(VECTORS, folder, file), "utf8")) as T & { wantErr: boolean }
      return { name: `${folder}/${file}`, wantErr: json.wantErr, probe: json }
    })

interface InclusionProbe {
  leafIdx: number
  treeSize: number
  root: string
  leafHash: string
  proof: string[] | null
}

interface ConsistencyProbe {
  size1: number
  size2: number
  root1: string
  root2: string
  proof: string[] | null
}

const inclusionProbes = loadProbes<InclusionProbe>("inclusion")
const consistencyProbes = loadProbes<ConsistencyProbe>("consistency")

// ---- an independent reading of the tree shape, for the size-binding properties ----

const largestPowerOfTwoBelow = (n: number): number => {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** Sides of the audit-path siblings of leaf m in a tree of n leaves, lowest first (RFC 9162 PATH). */
const auditPathShape = (m: number, n: number): string => {
  if (n <= 1) return ""
  const k = largestPowerOfTwoBelow(n)
  return m < k ? auditPathShape(m, k) + "R" : auditPathShape(m - k, n - k) + "L"
}

// ---- generators ----

/** Leaf data made distinct by an index prefix: with duplicate leaves, other indexes can honestly verify. */
const distinctLeaves = (maxLength: number) =>
  fc
    .array(fc.uint8Array({ maxLength: 24 }), { minLength: 1, maxLength })
    .map((parts) => parts.map((part, i) => Uint8Array.from([i & 0xff, i >> 8, ...part])))

const flipBit = (bytes: Uint8Array, position: number): Uint8Array => {
  const copy = Uint8Array.from(bytes)
  const at = position % (copy.length * 8)
  copy[at >> 3] = (copy[at >> 3] ?? 0) ^ (1 << (at & 7))
  return copy
}

const withFlippedElement = (proof: Uint8Array[], element: number, position: number): Uint8Array[] =>
  proof.map((p, i) => (i === element % proof.length ? flipBit(p, position) : p))

describe("leafHash", () => {
  it("is SHA-256 over 0x00 and the data", () => {
    expect(hex(leafHash(new Uint8Array(0)))).toBe(reference.hasher.emptyLeaf)
    expect(hex(leafHash(Buffer.from(reference.hasher.leaf.dataUtf8)))).toBe(reference.hasher.leaf.hash)
  })

  it("matches the leaf level of the RFC 6962 reference tree", () => {
    expect(referenceLeafHashes.map(hex)).toEqual(reference.nodeHashesByLevel[0])
  })

  it("hashes data of any length, including beyond its scratch buffers", () => {
    for (const length of [0, 1, 31, 32, 1023, 1024, 5000, 64 * 1024 - 1, 64 * 1024, 200_000]) {
      const data = Uint8Array.from({ length }, (_, i) => (i * 7 + length) & 0xff)
      expect(hex(leafHash(data))).toBe(hex(sha256(Uint8Array.of(0), data)))
    }
  })

  it("returns a fresh 32-byte array that later calls do not overwrite", () => {
    const first = leafHash(Buffer.from("first"))
    const snapshot = hex(first)
    leafHash(Buffer.from("second"))
    expect(first).toBeInstanceOf(Uint8Array)
    expect(first.length).toBe(32)
    expect(hex(first)).toBe(snapshot)
  })

  it("hashes a view into a larger buffer by its own bytes only", () => {
    const backing = Buffer.from("xxhello worldyy")
    expect(hex(leafHash(backing.subarray(2, 13)))).toBe(hex(leafHash(Buffer.from("hello world"))))
  })
})

describe("nodeHash", () => {
  it("is SHA-256 over 0x01, the left hash and the right hash", () => {
    const { leftUtf8, rightUtf8, hash } = reference.hasher.node
    expect(hex(nodeHash(Buffer.from(leftUtf8), Buffer.from(rightUtf8)))).toBe(hash)
  })

  it("builds every interior level of the RFC 6962 reference tree", () => {
    for (let level = 1; level < reference.nodeHashesByLevel.length; level++) {
      const below = (reference.nodeHashesByLevel[level - 1] ?? []).map(unhex)
      const built = (reference.nodeHashesByLevel[level] ?? []).map((_, i) =>
        hex(nodeHash(below[2 * i] ?? new Uint8Array(), below[2 * i + 1] ?? new Uint8Array()))
      )
      expect(built).toEqual(reference.nodeHashesByLevel[level])
    }
  })

  it("returns a fresh array that later calls do not overwrite", () => {
    const [a, b] = referenceLeafHashes
    const first = nodeHash(a ?? new Uint8Array(32), b ?? new Uint8Array(32))
    const snapshot = hex(first)
    nodeHash(b ?? new Uint8Array(32), a ?? new Uint8Array(32))
    expect(hex(first)).toBe(snapshot)
  })
})

describe("rootOf", () => {
  it("gives SHA-256 of the empty string for the empty tree", () => {
    expect(hex(rootOf([]))).toBe(reference.hasher.emptyRoot)
    expect(hex(rootOf([]))).toBe(referenceRoot(0))
  })

  it("matches the RFC 6962 reference roots for every size from 0 to 8", () => {
    for (let size = 0; size <= 8; size++) {
      expect(hex(rootOf(referenceLeaves.slice(0, size))), `size ${size}`).toBe(referenceRoot(size))
    }
  })

  it("reproduces the subtree hash vector of draft-ietf-plants-merkle-tree-certs", () => {
    const { maxSize, hashLines } = reference.subtreeDigests
    const leaves = Array.from({ length: maxSize }, (_, i) => Uint8Array.of(i))
    const digest = createHash("sha256")
    forEachValidSubtree(maxSize, (start, end) => {
      digest.update(`[${start}, ${end}) ${hex(rootOf(leaves.slice(start, end)))}\n`)
    })
    expect(digest.digest("hex")).toBe(hashLines.sha256)
  })
})

/** Subtrees [start, end) of the draft's vectors: start = 0, start = end, or start aligned to bit_ceil(end - start). */
function forEachValidSubtree(maxSize: number, visit: (start: number, end: number) => void): void {
  for (let end = 0; end <= maxSize; end++) {
    for (let start = 0; start <= end; start++) {
      let ceil = 1
      while (ceil < end - start) ceil *= 2
      if (start === 0 || start === end || start % ceil === 0) visit(start, end)
    }
  }
}

describe("CompactRange", () => {
  it("starts empty, with the empty-tree root", () => {
    const range = new CompactRange()
    expect(range.size).toBe(0)
    expect(hex(range.root())).toBe(reference.hasher.emptyRoot)
  })

  it("tracks the RFC 6962 reference roots as leaves are appended", () => {
    const range = compactRange()
    referenceLeaves.forEach((leaf, i) => {
      range.append(leaf)
      expect(range.size).toBe(i + 1)
      expect(hex(range.root()), `size ${i + 1}`).toBe(referenceRoot(i + 1))
    })
  })

  it("accepts precomputed leaf hashes interchangeably with leaf data", () => {
    const range = compactRange()
    referenceLeaves.forEach((leaf, i) => {
      if (i % 2 === 0) range.append(leaf)
      else range.appendLeafHash(leafHash(leaf))
    })
    expect(hex(range.root())).toBe(referenceRoot(8))
  })

  it("rejects a leaf hash that is not 32 bytes", () => {
    const range = compactRange()
    expect(() => range.appendLeafHash(new Uint8Array(31))).toThrow(RangeError)
    expect(range.size).toBe(0)
  })

  it("is not disturbed when the caller reuses a leaf hash buffer", () => {
    const range = compactRange()
    const buffer = Uint8Array.from(referenceLeafHashes[0] ?? [])
    range.appendLeafHash(buffer)
    buffer.fill(0)
    expect(hex(range.root())).toBe(referenceRoot(1))
  })

  it("agrees with rootOf at every size", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 80 }), (leaves) => {
        const range = compactRange()
        for (let size = 1; size <= leaves.length; size++) {
          range.append(leaves[size - 1] ?? new Uint8Array())
          if (hex(range.root()) !== hex(rootOf(leaves.slice(0, size)))) return false
        }
        return range.size === leaves.length
      }),
      { numRuns: 60 }
    )
  })
})

describe("inclusionProof", () => {
  it("matches the audit paths of the RFC 6962 reference tree", () => {
    for (const { index, size, proof } of reference.inclusionProofs) {
      expect(inclusionProof(referenceLeafHashes, index, size).map(hex), `${index} in ${size}`).toEqual(proof)
    }
  })

  it("reproduces the subtree inclusion vector of draft-ietf-plants-merkle-tree-certs", () => {
    const { maxSize, inclusionLines } = reference.subtreeDigests
    const hashes = Array.from({ length: maxSize }, (_, i) => leafHash(Uint8Array.of(i)))
    const digest = createHash("sha256")
    forEachValidSubtree(maxSize, (start, end) => {
      const subtree = hashes.slice(start, end)
      for (let index = start; index < end; index++) {
        const path = inclusionProof(subtree, index - start, end - start)
        digest.update(`${index} [${start}, ${end})${path.map((h) => ` ${hex(h)}`).join("")}\n`)
      }
    })
    expect(digest.digest("hex")).toBe(inclusionLines.sha256)
  })

  it("refuses an index at or past the tree size", () => {
    expect(() => inclusionProof(referenceLeafHashes, 3, 3)).toThrow(RangeError)
    expect(() => inclusionProof(referenceLeafHashes, 0, 0)).toThrow(RangeError)
    expect(() => inclusionProof(referenceLeafHashes, -1, 3)).toThrow(RangeError)
  })

  it("refuses a tree size larger than the leaves given", () => {
    expect(() => inclusionProof(referenceLeafHashes, 0, 9)).toThrow(RangeError)
  })
})

describe("verifyInclusion", () => {
  describe("against the transparency-dev/merkle probes", () => {
    it.each(inclusionProbes)("$name", ({ wantErr, probe }) => {
      const ok = verifyInclusion(
        unb64(probe.leafHash),
        probe.leafIdx,
        probe.treeSize,
        (probe.proof ?? []).map(unb64),
        unb64(probe.root)
      )
      expect(ok).toBe(!wantErr)
    })
  })

  it("accepts every reference audit path against the reference root", () => {
    for (const { index, size, proof } of reference.inclusionProofs) {
      const leaf = referenceLeafHashes[index] ?? new Uint8Array()
      expect(verifyInclusion(leaf, index, size, proof.map(unhex), unhex(referenceRoot(size)))).toBe(true)
    }
  })

  it("rejects a proof for an index past the tree size", () => {
    const proof = inclusionProof(referenceLeafHashes, 2, 3)
    const root = unhex(referenceRoot(3))
    const leaf = referenceLeafHashes[2] ?? new Uint8Array()
    expect(verifyInclusion(leaf, 2, 3, proof, root)).toBe(true)
    expect(verifyInclusion(leaf, 3, 3, proof, root)).toBe(false)
    expect(verifyInclusion(leaf, 2, 2, proof, root)).toBe(false)
  })

  it("rejects indexes and sizes that are not non-negative safe integers", () => {
    const leaf = referenceLeafHashes[0] ?? new Uint8Array()
    const root = unhex(referenceRoot(1))
    expect(verifyInclusion(leaf, 0, 1, [], root)).toBe(true)
    for (const [index, size] of [[-1, 1], [0.5, 1], [0, 1.5], [Number.NaN, 1], [0, Infinity], [2 ** 64 - 1, 2 ** 64]]) {
      expect(verifyInclusion(leaf, index ?? 0, size ?? 0, [], root), `${index} in ${size}`).toBe(false)
    }
  })

  it("rejects a proof that is too long or too short", () => {
    const proof = inclusionProof(referenceLeafHashes, 5, 8)
    const root = unhex(referenceRoot(8))
    const leaf = referenceLeafHashes[5] ?? new Uint8Array()
    expect(verifyInclusion(leaf, 5, 8, proof.slice(0, -1), root)).toBe(false)
    expect(verifyInclusion(leaf, 5, 8, [...proof, root], root)).toBe(false)
  })

  it("rejects a leaf hash or proof element that is not 32 bytes", () => {
    const root = unhex(referenceRoot(2))
    const [a, b] = referenceLeafHashes
    expect(verifyInclusion(a ?? new Uint8Array(), 0, 2, [b ?? new Uint8Array(), new Uint8Array()], root)).toBe(false)
    expect(verifyInclusion(new Uint8Array(), 0, 1, [], new Uint8Array())).toBe(false)
  })

  it("accepts every proof inclusionProof produces", () => {
    fc.assert(
      fc.property(distinctLeaves(70), (leaves) => {
        const hashes = leaves.map(leafHash)
        for (let size = 1; size <= hashes.length; size++) {
          const root = rootOf(leaves.slice(0, size))
          for (let index = 0; index < size; index++) {
            const proof = inclusionProof(hashes, index, size)
            if (!verifyInclusion(hashes[index] ?? new Uint8Array(), index, size, proof, root)) return false
          }
        }
        return true
      }),
      { numRuns: 25 }
    )
  })

  it("rejects any single flipped bit in the proof, the leaf hash or the root", () => {
    fc.assert(
      fc.property(distinctLeaves(100), fc.nat(), fc.nat(), fc.nat(), (leaves, pick, element, bit) => {
        const hashes = leaves.map(leafHash)
        const size = hashes.length
        const index = pick % size
        const leaf = hashes[index] ?? new Uint8Array()
        const root = rootOf(leaves)
        const proof = inclusionProof(hashes, index, size)
        if (proof.length > 0 && verifyInclusion(leaf, index, size, withFlippedElement(proof, element, bit), root)) {
          return false
        }
        return (
          !verifyInclusion(flipBit(leaf, bit), index, size, proof, root) &&
          !verifyInclusion(leaf, index, size, proof, flipBit(root, bit))
        )
      }),
      { numRuns: 300 }
    )
  })

  it("rejects the proof under any other leaf index", () => {
    fc.assert(
      fc.property(distinctLeaves(64), fc.nat(), fc.nat(200), (leaves, pick, other) => {
        const hashes = leaves.map(leafHash)
        const index = pick % hashes.length
        fc.pre(other !== index)
        const proof = inclusionProof(hashes, index, hashes.length)
        return !verifyInclusion(hashes[index] ?? new Uint8Array(), other, hashes.length, proof, rootOf(leaves))
      }),
      { numRuns: 300 }
    )
  })

  // RFC 9162 inclusion proofs do not commit to the tree size (the signed tree head does): another
  // size is accepted exactly when it gives the leaf the same audit-path shape, e.g. leaf 0 of 3 and of 4.
  it("rejects another tree size unless it gives the leaf the same audit-path shape", () => {
    fc.assert(
      fc.property(distinctLeaves(64), fc.nat(), fc.nat(200), (leaves, pick, otherSize) => {
        const hashes = leaves.map(leafHash)
        const size = hashes.length
        const index = pick % size
        fc.pre(otherSize !== size)
        const proof = inclusionProof(hashes, index, size)
        const accepted = verifyInclusion(hashes[index] ?? new Uint8Array(), index, otherSize, proof, rootOf(leaves))
        const sameShape = otherSize > index && auditPathShape(index, otherSize) === auditPathShape(index, size)
        return accepted === sameShape
      }),
      { numRuns: 500 }
    )
  })
})

describe("consistencyProof", () => {
  it("matches the consistency proofs of the RFC 6962 reference tree", () => {
    for (const { size1, size2, proof } of reference.consistencyProofs) {
      expect(consistencyProof(referenceLeafHashes, size1, size2).map(hex), `${size1} to ${size2}`).toEqual(proof)
    }
  })

  it("gives the empty proof between equal sizes", () => {
    expect(consistencyProof(referenceLeafHashes, 5, 5)).toEqual([])
  })

  it("refuses size1 = 0, size1 > size2 and a size2 larger than the leaves given", () => {
    expect(() => consistencyProof(referenceLeafHashes, 0, 3)).toThrow(RangeError)
    expect(() => consistencyProof(referenceLeafHashes, 4, 3)).toThrow(RangeError)
    expect(() => consistencyProof(referenceLeafHashes, 1, 9)).toThrow(RangeError)
  })

  it("verifies between every pair of sizes of the reference tree", () => {
    for (let size2 = 1; size2 <= 8; size2++) {
      for (let size1 = 1; size1 <= size2; size1++) {
        const proof = consistencyProof(referenceLeafHashes, size1, size2)
        const ok = verifyConsistency(size1, size2, unhex(referenceRoot(size1)), unhex(referenceRoot(size2)), proof)
        expect(ok, `${size1} to ${size2}`).toBe(true)
      }
    }
  })
})

describe("verifyConsistency", () => {
  describe("against the transparency-dev/merkle probes", () => {
    it.each(consistencyProbes)("$name", ({ wantErr, probe }) => {
      const ok = verifyConsistency(
        probe.size1,
        probe.size2,
        unb64(probe.root1),
        unb64(probe.root2),
        (probe.proof ?? []).map(unb64)
      )
      expect(ok).toBe(!wantErr)
    })
  })

  it("accepts equal sizes only with an empty proof and equal roots", () => {
    const root = unhex(referenceRoot(3))
    expect(verifyConsistency(3, 3, root, root, [])).toBe(true)
    expect(verifyConsistency(3, 3, root, unhex(referenceRoot(4)), [])).toBe(false)
    expect(verifyConsistency(3, 3, root, root, [root])).toBe(false)
  })

  it("rejects every proof from the empty tree, even to the empty tree", () => {
    const empty = unhex(referenceRoot(0))
    expect(verifyConsistency(0, 0, empty, empty, [])).toBe(false)
    expect(verifyConsistency(0, 1, empty, unhex(referenceRoot(1)), [])).toBe(false)
  })

  it("rejects size1 greater than size2", () => {
    const proof = consistencyProof(referenceLeafHashes, 3, 5)
    expect(verifyConsistency(5, 3, unhex(referenceRoot(5)), unhex(referenceRoot(3)), proof)).toBe(false)
  })

  it("rejects an empty proof between different sizes", () => {
    expect(verifyConsistency(4, 8, unhex(referenceRoot(4)), unhex(referenceRoot(8)), [])).toBe(false)
  })

  it("rejects a proof with an extra or a missing element", () => {
    const proof = consistencyProof(referenceLeafHashes, 3, 7)
    const [root1, root2] = [unhex(referenceRoot(3)), unhex(referenceRoot(7))]
    expect(verifyConsistency(3, 7, root1, root2, proof)).toBe(true)
    expect(verifyConsistency(3, 7, root1, root2, proof.slice(1))).toBe(false)
    expect(verifyConsistency(3, 7, root1, root2, [...proof, root2])).toBe(false)
  })

  it("accepts every proof consistencyProof produces", () => {
    fc.assert(
      fc.property(distinctLeaves(100), fc.nat(), fc.nat(), (leaves, a, b) => {
        const hashes = leaves.map(leafHash)
        const size2 = 1 + (a % hashes.length)
        const size1 = 1 + (b % size2)
        const proof = consistencyProof(hashes, size1, size2)
        return verifyConsistency(size1, size2, rootOf(leaves.slice(0, size1)), rootOf(leaves.slice(0, size2)), proof)
      }),
      { numRuns: 400 }
    )
  })

  it("rejects any single flipped bit in the proof or either root", () => {
    fc.assert(
      fc.property(distinctLeaves(100), fc.nat(), fc.nat(), fc.nat(), fc.nat(), (leaves, a, b, element, bit) => {
        const hashes = leaves.map(leafHash)
        fc.pre(hashes.length >= 2)
        const size2 = 2 + (a % (hashes.length - 1))
        const size1 = 1 + (b % (size2 - 1))
        const root1 = rootOf(leaves.slice(0, size1))
        const root2 = rootOf(leaves.slice(0, size2))
        const proof = consistencyProof(hashes, size1, size2)
        return (
          !verifyConsistency(size1, size2, root1, root2, withFlippedElement(proof, element, bit)) &&
          !verifyConsistency(size1, size2, flipBit(root1, bit), root2, proof) &&
          !verifyConsistency(size1, size2, root1, flipBit(root2, bit), proof)
        )
      }),
      { numRuns: 400 }
    )
  })

  it("rejects the proof under any other size1", () => {
    fc.assert(
      fc.property(distinctLeaves(64), fc.nat(), fc.nat(), fc.nat(200), (leaves, a, b, other) => {
        const hashes = leaves.map(leafHash)
        fc.pre(hashes.length >= 2)
        const size2 = 2 + (a % (hashes.length - 1))
        const size1 = 1 + (b % (size2 - 1))
        fc.pre(other !== size1)
        const proof = consistencyProof(hashes, size1, size2)
        return !verifyConsistency(other, size2, rootOf(leaves.slice(0, size1)), rootOf(leaves.slice(0, size2)), proof)
      }),
      { numRuns: 400 }
    )
  })

  // As with inclusion, the proof does not commit to size2: another size2 is accepted exactly when
  // the last leaf of the old tree has the same audit-path shape in it.
  it("rejects another size2 unless the old tree's last leaf keeps its audit-path shape", () => {
    fc.assert(
      fc.property(distinctLeaves(64), fc.nat(), fc.nat(), fc.nat(200), (leaves, a, b, other) => {
        const hashes = leaves.map(leafHash)
        fc.pre(hashes.length >= 2)
        const size2 = 2 + (a % (hashes.length - 1))
        const size1 = 1 + (b % (size2 - 1))
        fc.pre(other !== size2)
        const proof = consistencyProof(hashes, size1, size2)
        const accepted = verifyConsistency(
          size1,
          other,
          rootOf(leaves.slice(0, size1)),
          rootOf(leaves.slice(0, size2)),
          proof
        )
        const sameShape = other > size1 && auditPathShape(size1 - 1, other) === auditPathShape(size1 - 1, size2)
        return accepted === sameShape
      }),
      { numRuns: 400 }
    )
  })
})
