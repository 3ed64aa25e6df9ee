// The agent registry and token checks: tokens shown once and kept as SHA-256 only, in a 0600 file;
// missing, wrong, revoked, expired and mismatched tokens refused with their reason.
import { readFileSync, statSync, chmodSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { Either } from "effect"
import { hashToken, loadRegistry, makeAuthenticator, newToken, registryFile, updateRegistry } from "../../../src/adapters/agents/agent-registry.js"
import { admit, register, revoke, type RegisteredAgent } from "../../../src/domain/agents/agent.js"
import { removeDir, tempDir } from "../../support/ledger-fixture.js"

const dirs: Array<string> = []
const dataDir = () => {
  const dir = join(tempDir("hv-agents-"), "data")
  dirs.push(dir)
  return dir
}
afterEach(() => dirs.splice(0).forEach((d) => removeDir(join(d, ".."))))

const agent = (id: string, token: string, overrides: Partial<RegisteredAgent> = {}): RegisteredAgent => ({
  id,
  tokenSha256: hashToken(token),
  policy: null,
  createdAt: "2026-01-01T00:00:00.000Z",
  createdBy: "op",
  expiresAt: null,
  revokedAt: null,
  ...overrides
})

const add = (dir: string, entry: RegisteredAgent) => Either.getOrThrow(updateRegistry(dir, (r) => register(r, entry)))

describe("admit (given a matched identity, when a request comes, then…)", () => {
  const now = new Date("2026-06-01T00:00:00Z")
  it("admits a live token and names its agent", () => {
    expect(admit(agent("a", "t"), null, now)).toEqual(Either.right({ id: "a", policy: null, tokenSha256: hashToken("t") }))
  })
  it("refuses no match, a revoked or expired token, and a token of another agent, each with its reason", () => {
    expect(Either.getLeft(admit(undefined, null, now)).pipe((o) => o._tag === "Some" && o.value.reason)).toBe("unknown-token")
    expect(Either.getLeft(admit(agent("a", "t", { revokedAt: "2026-05-01T00:00:00Z" }), null, now)).pipe((o) => o._tag === "Some" && o.value.reason)).toBe("revoked-token")
    expect(Either.getLeft(admit(agent("a", "t", { expiresAt: "2026-06-01T00:00:00Z" }), null, now)).pipe((o) => o._tag === "Some" && o.value.reason)).toBe("expired-token")
    expect(Either.getLeft(admit(agent("a", "t"), "b", now)).pipe((o) => o._tag === "Some" && o.value.reason)).toBe("agent-mismatch")
    expect(Either.isRight(admit(agent("a", "t", { expiresAt: "2026-06-01T00:00:01Z" }), "a", now))).toBe(true)
  })
  it("register refuses an id that holds a live token; revoke refuses twice", () => {
    const one = Either.getOrThrow(register({ version: 1, agents: [] }, agent("a", "t")))
    expect(Either.isLeft(register(one, agent("a", "u")))).toBe(true)
    const revoked = Either.getOrThrow(revoke(one, "a", "2026-01-02T00:00:00Z"))
    expect(Either.isLeft(revoke(revoked, "a", "2026-01-03T00:00:00Z"))).toBe(true)
    expect(Either.getOrThrow(register(revoked, agent("a", "u"))).agents.map((a) => a.tokenSha256)).toEqual([hashToken("u")])
    expect(Either.isLeft(revoke(one, "nobody", "x"))).toBe(true)
  })
})

describe("the registry file", () => {
  it("holds hashes only, mode 0600, and reads back", () => {
    const dir = dataDir()
    const token = newToken()
    expect(token).toMatch(/^hv_[A-Za-z0-9_-]{43}$/)
    add(dir, agent("alice", token))
    const file = registryFile(dir)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(readFileSync(file, "utf8")).not.toContain(token)
    expect(readFileSync(file, "utf8")).toContain(hashToken(token))
    expect(Either.getOrThrow(loadRegistry(dir)).agents.map((a) => a.id)).toEqual(["alice"])
  })

  it("refuses a registry others can read, and one that is not a registry", () => {
    const dir = dataDir()
    add(dir, agent("alice", "t"))
    chmodSync(registryFile(dir), 0o644)
    expect(Either.getLeft(loadRegistry(dir)).pipe((o) => o._tag === "Some" && o.value.message)).toContain("chmod 600")
    writeFileSync(registryFile(dir), "{not json", { mode: 0o600 })
    chmodSync(registryFile(dir), 0o600)
    expect(Either.getLeft(loadRegistry(dir)).pipe((o) => o._tag === "Some" && o.value.message)).toContain("not a valid agent registry")
  })
})

describe("makeAuthenticator", () => {
  it("admits each agent by its own token and refuses missing, wrong, revoked and expired ones", () => {
    const dir = dataDir()
    const [a, b, c] = [newToken(), newToken(), newToken()]
    add(dir, agent("alice", a))
    add(dir, agent("bob", b, { expiresAt: new Date(Date.now() - 1000).toISOString() }))
    add(dir, agent("carol", c))
    const auth = makeAuthenticator(dir)
    const reason = (token: string | undefined, claimed: string | null = null) => {
      const r = auth.authenticate(token, claimed)
      return Either.isRight(r) ? `ok:${r.right.id}` : r.left.reason
    }
    expect(reason(a)).toBe("ok:alice")
    expect(reason(c)).toBe("ok:carol")
    expect(reason(undefined)).toBe("missing-token")
    expect(reason("")).toBe("missing-token")
    expect(reason(`${a}x`)).toBe("unknown-token")
    expect(reason(b)).toBe("expired-token")
    expect(reason(a, "carol")).toBe("agent-mismatch")
    updateRegistry(dir, (r) => revoke(r, "carol", new Date().toISOString()))
    expect(reason(c)).toBe("revoked-token")
    const alice = Either.getOrThrow(auth.authenticate(a, "alice"))
    expect(Either.isRight(auth.recheck(alice))).toBe(true)
    updateRegistry(dir, (r) => revoke(r, "alice", new Date().toISOString()))
    expect(Either.getLeft(auth.recheck(alice)).pipe((o) => o._tag === "Some" && o.value.reason)).toBe("revoked-token")
  })

  it("admits an ad-hoc agent holding the --auth-token, but a registered id keeps its own token", () => {
    const dir = dataDir()
    const registered = newToken()
    add(dir, agent("alice", registered))
    expect(Either.getOrThrow(makeAuthenticator(dir, { id: "helper", token: "adhoc-secret" }).authenticate("adhoc-secret", null)).id).toBe("helper")
    const shadowing = makeAuthenticator(dir, { id: "alice", token: "adhoc-secret" })
    expect(Either.isLeft(shadowing.authenticate("adhoc-secret", null))).toBe(true)
    expect(Either.isRight(shadowing.authenticate(registered, null))).toBe(true)
  })

  it("fails closed when the registry becomes unreadable", () => {
    const dir = dataDir()
    const token = newToken()
    add(dir, agent("alice", token))
    const auth = makeAuthenticator(dir)
    expect(Either.isRight(auth.authenticate(token, null))).toBe(true)
    chmodSync(registryFile(dir), 0o666)
    expect(Either.getLeft(auth.authenticate(token, null)).pipe((o) => o._tag === "Some" && o.value.message)).toContain("cannot check tokens")
  })
})
