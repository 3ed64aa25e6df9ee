// `hydravisor agents add|list|revoke`: agent identities and their bearer tokens for MCP. A token is
// shown once; the registry (`<data-dir>/agents.json`, mode 0600) keeps only its SHA-256. The daemon
// reads the registry on every request and records additions and revocations in the ledger.
import { userInfo } from "node:os"
import { Args, Command, Options } from "@effect/cli"
import { Data, Effect, Either, Option, Schema } from "effect"
import { fingerprintOf, hashToken, loadRegistry, newToken, updateRegistry } from "../../adapters/agents/agent-registry.js"
import { register, revoke, type RegisteredAgent } from "../../domain/agents/agent.js"
import { PolicyName } from "../../domain/config/config.js"
import { AgentId } from "../../domain/events/agent-events.js"
import { resolveDataDir } from "../data-dir.js"
import { dataDirOption, jsonOption } from "../options.js"
import { printJson, printTable, say } from "../output.js"

class AgentsRefused extends Data.TaggedError("AgentsRefused")<{ readonly reason: string }> {
  override get message() {
    return this.reason
  }
}

const agentArg = Args.text({ name: "agent" }).pipe(Args.withDescription("the agent's id: lower-case letters, digits, '.', '_' and '-'"))

const checked = <A, I>(schema: Schema.Schema<A, I>, value: string, what: string) =>
  Either.match(Schema.decodeUnknownEither(schema)(value), {
    onLeft: () => Effect.fail(new AgentsRefused({ reason: `invalid ${what} '${value}'` })),
    onRight: Effect.succeed
  })

const fromRegistry = <A, E extends { readonly message: string } | string>(result: Either.Either<A, E>) =>
  Either.match(result, {
    onLeft: (e) => Effect.fail(new AgentsRefused({ reason: typeof e === "string" ? e : e.message })),
    onRight: Effect.succeed
  })

const statusOf = (agent: RegisteredAgent, now = Date.now()) =>
  agent.revokedAt !== null ? "revoked" : agent.expiresAt !== null && Date.parse(agent.expiresAt) <= now ? "expired" : "active"

const add = Command.make(
  "add",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    policy: Options.text("policy").pipe(Options.withDescription("the policy every environment of this agent gets"), Options.optional),
    expiresIn: Options.float("expires-in").pipe(Options.withDescription("hours until the token expires (default: never)"), Options.optional),
    agent: agentArg
  },
  (o) =>
    Effect.gen(function* () {
      const id = yield* checked(AgentId, o.agent, "agent id")
      const policy = Option.isSome(o.policy) ? yield* checked(PolicyName, o.policy.value, "policy name") : null
      if (Option.isSome(o.expiresIn) && !(o.expiresIn.value > 0)) return yield* new AgentsRefused({ reason: "--expires-in must be a positive number of hours" })
      const now = new Date()
      const token = newToken()
      const entry: RegisteredAgent = {
        id,
        tokenSha256: hashToken(token),
        policy,
        createdAt: now.toISOString(),
        createdBy: userInfo().username,
        expiresAt: Option.isSome(o.expiresIn) ? new Date(now.getTime() + o.expiresIn.value * 3_600_000).toISOString() : null,
        revokedAt: null
      }
      yield* fromRegistry(updateRegistry(resolveDataDir(o.dataDir), (r) => register(r, entry)))
      if (o.json) return yield* printJson({ agent: id, token, fingerprint: fingerprintOf(entry.tokenSha256), policy, expiresAt: entry.expiresAt })
      yield* say(
        [
          `agent ${id} registered${policy === null ? "" : ` (policy ${policy})`}${entry.expiresAt === null ? "" : `, token expires ${entry.expiresAt}`}.`,
          `Its bearer token, shown only now (give it to the agent as HYDRAVISOR_TOKEN or an Authorization: Bearer header):`,
          "",
          token
        ].join("\n")
      )
    })
).pipe(Command.withDescription("Register an agent and print its bearer token (once; only its SHA-256 is kept)."))

const list = Command.make("list", { dataDir: dataDirOption, json: jsonOption }, (o) =>
  Effect.gen(function* () {
    const registry = yield* fromRegistry(loadRegistry(resolveDataDir(o.dataDir)))
    const rows = registry.agents.map((a) => ({
      agent: a.id,
      status: statusOf(a),
      policy: a.policy,
      fingerprint: fingerprintOf(a.tokenSha256),
      createdAt: a.createdAt,
      createdBy: a.createdBy,
      expiresAt: a.expiresAt,
      revokedAt: a.revokedAt
    }))
    if (o.json) return yield* printJson(rows)
    if (rows.length === 0) return yield* say("no agents (hydravisor agents add <id>)")
    yield* printTable(
      ["AGENT", "STATUS", "POLICY", "TOKEN", "CREATED", "EXPIRES"],
      rows.map((r) => [r.agent, r.status, r.policy ?? "-", r.fingerprint, r.createdAt, r.expiresAt ?? "never"])
    )
  })
).pipe(Command.withDescription("List agents, their status and token fingerprints (never the tokens)."))

const revokeCommand = Command.make("revoke", { dataDir: dataDirOption, json: jsonOption, agent: agentArg }, (o) =>
  Effect.gen(function* () {
    const at = new Date().toISOString()
    yield* fromRegistry(updateRegistry(resolveDataDir(o.dataDir), (r) => revoke(r, o.agent, at)))
    yield* o.json ? printJson({ agent: o.agent, revokedAt: at }) : say(`revoked the token of agent ${o.agent}; its next request is refused`)
  })
).pipe(Command.withDescription("Revoke an agent's token; requests with it are refused from now on (401, recorded)."))

export const agentsCommand = Command.make("agents").pipe(
  Command.withDescription("Agent identities and bearer tokens for the MCP server"),
  Command.withSubcommands([add, list, revokeCommand])
)
