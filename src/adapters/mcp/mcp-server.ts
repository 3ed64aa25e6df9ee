// The MCP server one agent talks to: the SDK's protocol Server per connection, bound to the agent
// its token proved, with every tool and the audit-trail resource. A call runs as an Effect in the
// daemon's runtime under its own correlation id and ends with its ToolCalled record; failures become
// tool errors (`isError: true`) with one clear line, never a crash.
import { Cause, Effect, Either, Exit, Runtime } from "effect"
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { UriTemplate } from "@modelcontextprotocol/sdk/shared/uriTemplate.js"
import { Protocol, type RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js"
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js"
import {
  CallToolRequestSchema,
  ErrorCode,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type CallToolRequest,
  type CallToolResult,
  type ReadResourceResult,
  type RequestId,
  type ServerNotification,
  type ServerRequest
} from "@modelcontextprotocol/sdk/types.js"
import type { ToolOutcome } from "../../domain/events/agent-events.js"
import type { Config } from "../../domain/config/config.js"
import type { AdHocAgent } from "../agents/agent-registry.js"
import { makeAccess, type Access } from "./access.js"
import { auditedTransport, makeCallBook, recordToolCall } from "./call-audit.js"
import { withCallCorrelation } from "./correlation.js"
import { environmentTools } from "./environment-tools.js"
import { ledgerTools } from "./ledger-tools.js"
import { declaredModel } from "./policy-gate.js"
import { ownEnvironments, type Caller, type CallState, type ToolContext, type ToolError } from "./tool-context.js"
import { toolDeps } from "./tool-deps.js"
import { decodeToolInput, toolList } from "./tool-catalog.js"
import { isToolName, type ToolInput, type ToolName, type ToolOutput } from "./tool-schemas.js"
import { requestsDirect } from "./transport-layer.js"
import { workspaceTools } from "./workspace-tools.js"

export const SERVER_INFO = { name: "hydravisor", version: "0.1.0" }

const INSTRUCTIONS =
  "Hydravisor gives you isolated sandboxes (environments). request_environment launches one; exec, read_file, write_file and list_files work in it; " +
  "snapshot/rollback save and restore its workspace; release_environment destroys it. Every call you make is recorded in a signed ledger."

const NOT_RECORDED = "the call ran but could not be recorded in the ledger; nothing more is done until it can be"
const AUDIT_TEMPLATE = new UriTemplate("hydravisor://environments/{id}/audit")
const AUDIT_RESOURCE = {
  title: "Audit trail of an environment",
  description: "The ledger events of one of your environments, as get_audit_trail returns them.",
  mimeType: "application/json"
}

type Handlers = { readonly [K in ToolName]: (input: ToolInput<K>, ctx: ToolContext) => Effect.Effect<ToolOutput<K>, ToolError> }

export interface McpCoreOptions {
  readonly dataDir: string
  readonly config: Config
  readonly adHoc: AdHocAgent | null
  readonly log: (line: string) => void
}

export interface McpCore {
  readonly access: Access
  /** Serves one authenticated connection until it closes. */
  readonly connect: (transport: Transport, caller: Caller) => Promise<Server>
}

const errorResult = (message: string): CallToolResult => ({ content: [{ type: "text", text: message }], isError: true })

type ToolCallHandler = (request: CallToolRequest, extra: RequestHandlerExtra<ServerRequest, ServerNotification>) => Promise<CallToolResult>

/**
 * tools/call registered the way the protocol layer registers every other method: each request is
 * parsed once (CallToolRequestSchema) before the handler runs. Server's own setRequestHandler wraps
 * tools/call to parse the request a second time and the result once more, for task-augmented calls
 * (no tasks capability here) and handlers whose results might not be CallToolResults (ours are, by
 * their type; the client parses every result again on its side). Those two zod passes and their
 * promise hops cost 0.34-0.56 ms per call, side by side (docs/decisions.md).
 */
const registerToolCalls = (server: Server, handler: ToolCallHandler) =>
  (Protocol.prototype.setRequestHandler as (this: Server, schema: typeof CallToolRequestSchema, handler: ToolCallHandler) => void).call(server, CallToolRequestSchema, handler)

export const makeMcpCore = (options: McpCoreOptions) =>
  Effect.gen(function* () {
    const deps = yield* toolDeps(options.dataDir, options.config)
    const access = yield* makeAccess({ dataDir: options.dataDir, adHoc: options.adHoc, ledger: deps.ledger, store: deps.store, log: options.log })
    const runtime = yield* Effect.runtime<never>()
    const ledgerSide = ledgerTools(deps)
    const handlers: Handlers = { ...environmentTools(deps), ...workspaceTools(deps), ...ledgerSide }

    /** Runs a call and records it; the answer is built from the outcome once the record is in. */
    const runCall = async <A>(caller: Caller, call: CallState, model: string | null, body: (ctx: ToolContext) => Effect.Effect<A, ToolError>) => {
      const ctx: ToolContext = { caller, call, model }
      // Over HTTP the request carrying the call was authenticated just now; other connections live long.
      const checked = caller.transport === "http" ? body(ctx) : access.recheck(caller, call).pipe(Effect.zipRight(body(ctx)))
      const program = checked.pipe(withCallCorrelation(call.callId))
      const exit = await Runtime.runPromiseExit(runtime)(program)
      let outcome: ToolOutcome = "ok"
      let error: string | null = null
      if (Exit.isFailure(exit)) {
        const failure = Cause.failureOption(exit.cause)
        if (failure._tag === "Some") {
          outcome = failure.value._tag === "ToolRefused" ? "refused" : "failed"
          error = failure.value.reason
        } else {
          outcome = "failed"
          error = "internal error (see the daemon log)"
          options.log(`tool ${call.tool} died: ${Cause.pretty(exit.cause).split("\n").slice(0, 8).join("\n")}`)
        }
      }
      // A tool that wrote the call's ToolCalled with its own last records (`call.recorded`) is done.
      const recorded = call.recorded ? Exit.void : await Runtime.runPromiseExit(runtime)(recordToolCall(deps.ledger, caller, call, outcome, error))
      if (Exit.isFailure(recorded)) {
        options.log(`could not record a ${call.tool} call: ${Cause.pretty(recorded.cause).split("\n")[0]}`)
        return { ok: false as const, error: NOT_RECORDED }
      }
      return Exit.isSuccess(exit) ? { ok: true as const, value: exit.value } : { ok: false as const, error: error ?? "failed" }
    }

    const connect = async (transport: Transport, caller: Caller) => {
      const book = makeCallBook()
      const server = new Server(SERVER_INFO, { capabilities: { tools: {}, resources: {} }, instructions: INSTRUCTIONS })
      const claim = (id: RequestId, tool: string, args: unknown) => book.claim(id, { tool, arguments: args })
      const model = () => declaredModel(server.getClientCapabilities())
      /** Records a call refused before any tool ran (outcome `invalid`); false when that failed (logged). */
      const recordRefused = async (call: CallState, error: string): Promise<boolean> => {
        const recorded = await Runtime.runPromiseExit(runtime)(recordToolCall(deps.ledger, caller, call, "invalid", error))
        if (Exit.isSuccess(recorded)) return true
        options.log(`could not record a refused ${call.tool} call: ${Cause.pretty(recorded.cause).split("\n")[0]}`)
        return false
      }
      /** An unknown tool or arguments that do not decode: recorded, then answered with the reason. */
      const invalid = async (call: CallState, error: string): Promise<CallToolResult> => errorResult((await recordRefused(call, error)) ? error : NOT_RECORDED)

      server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [...toolList()] }))
      registerToolCalls(server, async (request, extra): Promise<CallToolResult> => {
        const name = request.params.name
        const call = claim(extra.requestId, name, request.params.arguments)
        if (!isToolName(name)) return invalid(call, `Tool ${name} not found`)
        const input = decodeToolInput(name, request.params.arguments)
        if (Either.isLeft(input)) return invalid(call, input.left)
        const handler = handlers[name] as (input: unknown, ctx: ToolContext) => Effect.Effect<unknown, ToolError>
        const result = await runCall(caller, call, model(), (ctx) => handler(input.right, ctx))
        if (!result.ok) return errorResult(result.error)
        return { content: [{ type: "text", text: JSON.stringify(result.value) }], structuredContent: result.value as Record<string, unknown> }
      })

      server.setRequestHandler(ListResourcesRequestSchema, async () => {
        const views = await Runtime.runPromise(runtime)(ownEnvironments(deps.service, caller.agent.id, false))
        return { resources: views.map((v) => ({ ...AUDIT_RESOURCE, uri: `hydravisor://environments/${v.id}/audit`, name: `audit trail of ${v.name}` })) }
      })
      server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({
        resourceTemplates: [{ ...AUDIT_RESOURCE, name: "environment-audit", uriTemplate: AUDIT_TEMPLATE.toString() }]
      }))
      server.setRequestHandler(ReadResourceRequestSchema, async (request, extra): Promise<ReadResourceResult> => {
        const uri = new URL(request.params.uri)
        const variables = AUDIT_TEMPLATE.match(uri.toString())
        // Not one of ours: answered with an error before anything ran (the call audit records it).
        if (variables === null) throw new McpError(ErrorCode.InvalidParams, `Resource ${uri} not found`)
        const ref = String(variables["id"] ?? "")
        const call = claim(extra.requestId, "resources/read", { uri: uri.href })
        const result = await runCall(caller, call, model(), (ctx) => ledgerSide.auditResource(ref, ctx))
        if (!result.ok) throw new Error(result.error)
        return { contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(result.value) }] }
      })

      // Requests the SDK refuses itself (params of the wrong shape, a resource not ours): recorded the same way.
      // Once the call audit has seen them, requests go straight to the protocol layer's dispatch (transport-layer.ts).
      await server.connect(requestsDirect(auditedTransport(transport, book, async (call, error) => void (await recordRefused(call, error))), server))
      return server
    }

    const core: McpCore = { access, connect }
    return core
  })
