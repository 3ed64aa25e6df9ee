// The agent registry file, `<data-dir>/agents.json` (mode 0600): each agent's id, the SHA-256 of its
// bearer token (the token itself is shown once and never stored), policy, expiry and revocation.
// The operator's verbs write it; the MCP endpoints read it on every request (reloaded when it
// changes) and compare token hashes in constant time.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import * as fs from "node:fs"
import { join } from "node:path"
import { Data, Either, Schema } from "effect"
import { admit, AgentRegistry, emptyRegistry, type Agent, type Denial, type RegisteredAgent } from "../../domain/agents/agent.js"

export class RegistryUnavailable extends Data.TaggedError("RegistryUnavailable")<{ readonly file: string; readonly problem: string }> {
  override get message() {
    return `${this.file}: ${this.problem}`
  }
}

export class RegistryRefused extends Data.TaggedError("RegistryRefused")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

export const registryFile = (dataDir: string): string => join(dataDir, "agents.json")

export const newToken = (): string => `hv_${randomBytes(32).toString("base64url")}`

export const hashToken = (token: string): string => createHash("sha256").update(token, "utf8").digest("hex")

export const fingerprintOf = (tokenSha256: string): string => tokenSha256.slice(0, 16)

const decodeRegistry = Schema.decodeUnknownEither(Schema.parseJson(AgentRegistry), { onExcessProperty: "error" })

const problemOf = (e: unknown) => (e instanceof Error ? e.message : String(e))

export const loadRegistry = (dataDir: string): Either.Either<AgentRegistry, RegistryUnavailable> => {
  const file = registryFile(dataDir)
  let text: string
  try {
    const st = fs.statSync(file)
    if ((st.mode & 0o077) !== 0) return Either.left(new RegistryUnavailable({ file, problem: `readable by others (mode ${(st.mode & 0o777).toString(8)}); run chmod 600 ${file}` }))
    text = fs.readFileSync(file, "utf8")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return Either.right(emptyRegistry)
    return Either.left(new RegistryUnavailable({ file, problem: problemOf(e) }))
  }
  return Either.mapLeft(decodeRegistry(text), (e) => new RegistryUnavailable({ file, problem: `not a valid agent registry: ${e.message.split("\n").slice(0, 3).join(" ")}` }))
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

/** Runs `change` on the registry under a lock file and writes the result atomically (mode 0600). */
export const updateRegistry = <E>(dataDir: string, change: (registry: AgentRegistry) => Either.Either<AgentRegistry, E>): Either.Either<AgentRegistry, E | RegistryUnavailable> => {
  const file = registryFile(dataDir)
  const lock = `${file}.lock`
  try {
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    for (let attempt = 0; ; attempt++) {
      try {
        fs.closeSync(fs.openSync(lock, "wx", 0o600))
        break
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
        // A lock left by a process that died is taken over after a few seconds.
        if (attempt >= 100) fs.rmSync(lock, { force: true })
        else sleep(30)
      }
    }
  } catch (e) {
    return Either.left(new RegistryUnavailable({ file, problem: problemOf(e) }))
  }
  try {
    const current = loadRegistry(dataDir)
    if (Either.isLeft(current)) return current
    const next = change(current.right)
    if (Either.isLeft(next)) return next
    const temp = `${file}.${randomBytes(6).toString("hex")}.tmp`
    const fd = fs.openSync(temp, "wx", 0o600)
    try {
      fs.writeFileSync(fd, JSON.stringify(next.right, null, 2) + "\n")
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(temp, file)
    return next
  } catch (e) {
    return Either.left(new RegistryUnavailable({ file, problem: problemOf(e) }))
  } finally {
    fs.rmSync(lock, { force: true })
  }
}

/** One agent that is not in the file: `hydravisor mcp --auth-token T`. */
export interface AdHocAgent {
  readonly id: string
  readonly token: string
}

export interface Authenticator {
  /** The registry as last read (reloaded when the file changed), ad-hoc agent included. */
  readonly current: () => Either.Either<ReadonlyArray<RegisteredAgent>, RegistryUnavailable>
  readonly authenticate: (token: string | undefined, claimed: string | null, now?: Date) => Either.Either<Agent, Denial>
  /** `authenticate` against a registry already read with `current` (no second look at the file). */
  readonly authenticateAmong: (agents: ReadonlyArray<RegisteredAgent>, token: string | undefined, claimed: string | null, now?: Date) => Either.Either<Agent, Denial>
  /** Whether an admitted agent's token is still good (revocation and expiry take effect mid-session). */
  readonly recheck: (agent: Agent, now?: Date) => Either.Either<Agent, Denial>
}

export const makeAuthenticator = (dataDir: string, adHoc: AdHocAgent | null = null, startedAt = new Date()): Authenticator => {
  const file = registryFile(dataDir)
  const extra: ReadonlyArray<RegisteredAgent> =
    adHoc === null
      ? []
      : [{ id: adHoc.id, tokenSha256: hashToken(adHoc.token), policy: null, createdAt: startedAt.toISOString(), createdBy: "hydravisor mcp --auth-token", expiresAt: null, revokedAt: null }]
  let stamp = ""
  let cached: Either.Either<ReadonlyArray<RegisteredAgent>, RegistryUnavailable> = Either.right(extra)
  const current = () => {
    let next: string
    try {
      const st = fs.statSync(file)
      next = `${st.ino}:${st.size}:${st.mtimeMs}:${st.mode}`
    } catch {
      next = "absent"
    }
    if (next !== stamp) {
      stamp = next
      const loaded = loadRegistry(dataDir)
      // An ad-hoc id also in the file is the file's agent: the file is the operator's record.
      cached = Either.map(loaded, (r) => [...r.agents, ...extra.filter((x) => !r.agents.some((a) => a.id === x.id))])
    }
    return cached
  }
  const unavailable = (e: RegistryUnavailable, claimed: string | null): Denial => ({ reason: "unknown-token", agentId: claimed, message: `cannot check tokens: ${e.message}` })
  const missingToken = (claimed: string | null): Denial => ({ reason: "missing-token", agentId: claimed, message: "no bearer token" })
  const authenticateAmong: Authenticator["authenticateAmong"] = (agents, token, claimed, now = new Date()) => {
    if (token === undefined || token === "") return Either.left(missingToken(claimed))
    const presented = Buffer.from(hashToken(token), "hex")
    let matched: RegisteredAgent | undefined
    // Every stored hash is compared, in constant time each, so timing says nothing about which matched.
    for (const agent of agents) if (timingSafeEqual(presented, Buffer.from(agent.tokenSha256, "hex")) && matched === undefined) matched = agent
    return admit(matched, claimed, now)
  }
  return {
    current,
    authenticate: (token, claimed, now = new Date()) => {
      if (token === undefined || token === "") return Either.left(missingToken(claimed))
      const agents = current()
      if (Either.isLeft(agents)) return Either.left(unavailable(agents.left, claimed))
      return authenticateAmong(agents.right, token, claimed, now)
    },
    authenticateAmong,
    recheck: (agent, now = new Date()) => {
      const agents = current()
      if (Either.isLeft(agents)) return Either.left(unavailable(agents.left, agent.id))
      return admit(agents.right.find((a) => a.id === agent.id && a.tokenSha256 === agent.tokenSha256), agent.id, now)
    }
  }
}
