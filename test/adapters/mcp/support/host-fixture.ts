// The daemon's MCP core in the test process (real SQLite ledger, real bwrap runner on the test cgroup
// subtree), agents registered with real tokens, and SDK clients linked to it in memory.
import { join } from "node:path"
import { Chunk, Effect, Either, ManagedRuntime, Schema, Stream } from "effect"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js"
import { hashToken, newToken, updateRegistry } from "../../../../src/adapters/agents/agent-registry.js"
import { Ledger } from "../../../../src/adapters/ledger/ledger.js"
import { verifyLedger } from "../../../../src/adapters/ledger/verify.js"
import { mcpHostLayer } from "../../../../src/adapters/mcp/host.js"
import { makeMcpCore, type McpCore } from "../../../../src/adapters/mcp/mcp-server.js"
import { applyPolicy } from "../../../../src/adapters/policy/policy-store.js"
import { fromRunnerHandle } from "../../../../src/adapters/sandbox/mapping.js"
import { SandboxService } from "../../../../src/adapters/sandbox/sandbox-service.js"
import { EventStore } from "../../../../src/adapters/store/event-store.js"
import { register, type RegisteredAgent } from "../../../../src/domain/agents/agent.js"
import { defaultConfig } from "../../../../src/domain/config/config.js"
import { unsealData } from "../../../../src/domain/events/redactable.js"
import type { LedgerRecord } from "../../../../src/domain/ledger/record.js"
import { PolicyDocument } from "../../../../src/domain/policy/policy-document.js"
import { layer as bwrapLayer } from "../../../../src/runners/bwrap/bwrap-runner.js"
import { Runner } from "../../../../src/runners/runner.js"
import { removeDir, tempDir } from "../../../support/ledger-fixture.js"
import { TEST_CGROUP_PARENT } from "../../../runners/bwrap/sandbox-fixture.js"

export interface AgentSpec {
  readonly id: string
  readonly policy?: string
  readonly expiresAt?: string
}

export const addAgent = (dataDir: string, spec: AgentSpec): string => {
  const token = newToken()
  const entry: RegisteredAgent = {
    id: spec.id,
    tokenSha256: hashToken(token),
    policy: spec.policy ?? null,
    createdAt: new Date().toISOString(),
    createdBy: "test",
    expiresAt: spec.expiresAt ?? null,
    revokedAt: null
  }
  const done = updateRegistry(dataDir, (r) => register(r, entry))
  if (Either.isLeft(done)) throw new Error(String(done.left))
  return token
}

export interface TestHost {
  readonly dataDir: string
  readonly core: McpCore
  readonly tokens: Map<string, string>
  /** An SDK client of `agent`, linked in memory; `model` is declared in its capabilities. */
  readonly connect: (agent: string, options?: { readonly model?: string }) => Promise<Client>
  /** Applies a policy document (as `hydravisor policy apply` does), by the operator. */
  readonly applyPolicy: (document: unknown) => Promise<void>
  readonly run: <A, E>(effect: Effect.Effect<A, E, SandboxService | EventStore | Runner | Ledger>) => Promise<A>
  /** Every record, payloads unsealed. */
  readonly records: () => Promise<ReadonlyArray<LedgerRecord>>
  readonly verify: () => Promise<{ ok: boolean; records: number }>
  readonly close: () => Promise<void>
}

export const startHost = async (agents: ReadonlyArray<AgentSpec>): Promise<TestHost> => {
  const root = tempDir("hv-mcp-")
  const dataDir = join(root, "data")
  const tokens = new Map(agents.map((a) => [a.id, addAgent(dataDir, a)]))
  const log = (line: string) => void line
  const options = { dataDir, config: defaultConfig, ledger: {}, log }
  const runtime = ManagedRuntime.make(mcpHostLayer(options, bwrapLayer({ cgroupParent: TEST_CGROUP_PARENT })))
  const run = <A, E>(effect: Effect.Effect<A, E, SandboxService | EventStore | Runner | Ledger>) => runtime.runPromise(effect)
  const core = await run(makeMcpCore({ dataDir, config: defaultConfig, adHoc: null, log }))
  const clients: Array<Client> = []

  const connect = async (agentId: string, options: { readonly model?: string } = {}) => {
    const agent = await run(Effect.either(core.access.authenticate(tokens.get(agentId), null, { transport: "memory", remote: null })))
    if (Either.isLeft(agent)) throw new Error(agent.left.message)
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair()
    await core.connect(serverSide, { agent: agent.right, transport: "memory", session: `test-${agentId}`, remote: null })
    const capabilities = options.model === undefined ? {} : { experimental: { hydravisor: { model: options.model } } }
    const client = new Client({ name: `test-${agentId}`, version: "1" }, { capabilities })
    await client.connect(clientSide)
    // Listing the tools makes the SDK client check every structured result against its tool's advertised
    // output schema (ajv), so each test here also holds the outputs to what tools/list says.
    await client.listTools()
    clients.push(client)
    return client
  }

  const records = () =>
    run(
      Effect.flatMap(EventStore, (store) => Stream.runCollect(store.readAll())).pipe(
        Effect.map((chunk) => Chunk.toReadonlyArray(chunk).map((s) => ({ ...s.record, data: unsealData(s.record.data) })))
      )
    )

  const apply = async (document: unknown) => {
    const decoded = Schema.decodeUnknownSync(PolicyDocument, { onExcessProperty: "error" })(document)
    await run(Effect.gen(function* () {
      yield* applyPolicy(yield* Ledger, yield* EventStore, decoded, "test", { kind: "operator", id: "test" })
    }))
  }

  const verify = () => run(Effect.flatMap(EventStore, (store) => verifyLedger(store, { mode: "full", workers: 0 })))

  const close = async () => {
    for (const client of clients) await client.close().catch(() => undefined)
    await run(
      Effect.gen(function* () {
        const runner = yield* Runner
        for (const view of yield* (yield* SandboxService).list()) {
          const handle = fromRunnerHandle(view.handle)
          if (handle !== null) yield* runner.destroy(handle).pipe(Effect.ignore)
        }
      })
    ).catch(() => undefined)
    await runtime.dispose()
    removeDir(root)
  }

  return { dataDir, core, tokens, connect, applyPolicy: apply, run, records, verify, close }
}

/** The structured result of a tool call, or its error text. */
export const call = async (client: Client, name: string, args: Record<string, unknown>) => {
  const result = await client.callTool({ name, arguments: args })
  const text = (result.content as Array<{ type: string; text?: string }> | undefined)?.find((c) => c.type === "text")?.text ?? ""
  return result.isError === true ? { ok: false as const, error: text } : { ok: true as const, value: result.structuredContent as Record<string, any> }
}

export const ok = async (client: Client, name: string, args: Record<string, unknown>) => {
  const result = await call(client, name, args)
  if (!result.ok) throw new Error(`${name} failed: ${result.error}`)
  return result.value
}

export const failure = async (client: Client, name: string, args: Record<string, unknown>) => {
  const result = await call(client, name, args)
  if (result.ok) throw new Error(`${name} succeeded, expected an error: ${JSON.stringify(result.value)}`)
  return result.error
}

