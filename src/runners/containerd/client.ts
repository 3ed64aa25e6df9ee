// A minimal containerd client: our own protos (protos/containerd) loaded with @grpc/proto-loader, one
// gRPC channel over the unix socket, every call scoped to one containerd namespace through the
// `containerd-namespace` header. Calls are Effects that cancel the gRPC call when interrupted.
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import { Data, Effect, Stream } from "effect"
import type { Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { NAMESPACE_HEADER } from "./mapping.js"
import type { ContainerMessage, ExecProcessMessage, TaskCreateMessage } from "./mapping.js"

/** A call containerd answered with an error, or could not be reached for. */
export class ContainerdCallFailed extends Data.TaggedError("ContainerdCallFailed")<{
  readonly method: string
  readonly code: grpc.status
  readonly details: string
}> {
  override get message() {
    return `containerd ${this.method}: ${grpc.status[this.code] ?? this.code}: ${this.details}`
  }
}

export const isNotFound = (error: ContainerdCallFailed): boolean => error.code === grpc.status.NOT_FOUND
export const isAlreadyExists = (error: ContainerdCallFailed): boolean => error.code === grpc.status.ALREADY_EXISTS
export const isUnavailable = (error: ContainerdCallFailed): boolean => error.code === grpc.status.UNAVAILABLE
export const isUnreachable = (error: ContainerdCallFailed): boolean =>
  error.code === grpc.status.UNAVAILABLE || error.code === grpc.status.DEADLINE_EXCEEDED

/** Request shapes per method; answers are `unknown` and decoded by the caller (mapping.ts schemas). */
export interface Requests {
  readonly "Version.Version": Record<string, never>
  readonly "Containers.Get": { readonly id: string }
  readonly "Containers.Create": { readonly container: ContainerMessage }
  readonly "Containers.Delete": { readonly id: string }
  readonly "Tasks.Create": TaskCreateMessage
  readonly "Tasks.Start": { readonly container_id: string; readonly exec_id: string }
  readonly "Tasks.Delete": { readonly container_id: string }
  readonly "Tasks.DeleteProcess": { readonly container_id: string; readonly exec_id: string }
  readonly "Tasks.Get": { readonly container_id: string; readonly exec_id: string }
  readonly "Tasks.Kill": { readonly container_id: string; readonly exec_id: string; readonly signal: number; readonly all: boolean }
  readonly "Tasks.Exec": ExecProcessMessage
  readonly "Tasks.CloseIO": { readonly container_id: string; readonly exec_id: string; readonly stdin: boolean }
  readonly "Tasks.Pause": { readonly container_id: string }
  readonly "Tasks.Resume": { readonly container_id: string }
  readonly "Tasks.ListPids": { readonly container_id: string }
  readonly "Tasks.Wait": { readonly container_id: string; readonly exec_id: string }
}
export type Method = keyof Requests

export interface ContainerdClient {
  readonly socket: string
  readonly namespace: string
  /** `deadlineMs: null` for calls that block until something happens (Wait). */
  readonly call: <M extends Method>(method: M, request: Requests[M], deadlineMs?: number | null) => Effect.Effect<unknown, ContainerdCallFailed>
  /** The event stream with server-side filters; ends with a failure when the connection drops. */
  readonly subscribe: (filters: ReadonlyArray<string>) => Stream.Stream<unknown, ContainerdCallFailed>
}

const SERVICES = {
  Version: "containerd.services.version.v1.Version",
  Containers: "containerd.services.containers.v1.Containers",
  Tasks: "containerd.services.tasks.v1.Tasks",
  Events: "containerd.services.events.v1.Events"
} as const
type ServiceName = keyof typeof SERVICES

const PROTO_FILES = [
  "services/version/v1/version.proto",
  "services/containers/v1/containers.proto",
  "services/tasks/v1/tasks.proto",
  "services/events/v1/events.proto"
]

const DEFAULT_DEADLINE_MS = 30_000

/** protos/containerd from the source tree or the built package (dist/src/...), whichever holds it. */
export const protoDir = (): string => {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = path.join(dir, "protos", "containerd")
    if (fs.existsSync(path.join(candidate, PROTO_FILES[0] ?? ""))) return candidate
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`protos/containerd not found above ${fileURLToPath(import.meta.url)}`)
    dir = parent
  }
}

let loaded: grpc.GrpcObject | undefined
const loadProtos = (): grpc.GrpcObject => {
  loaded ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(PROTO_FILES, { includeDirs: [protoDir()], keepCase: true, longs: String, enums: String, defaults: true })
  )
  return loaded
}

const serviceConstructor = (root: grpc.GrpcObject, fullName: string): grpc.ServiceClientConstructor => {
  let node: unknown = root
  for (const part of fullName.split(".")) node = (node as Record<string, unknown>)[part]
  return node as grpc.ServiceClientConstructor
}

/** A request's bytes on the wire, as a call sends them (for round-trip tests of the protos). */
export const encodeRequest = <M extends Method>(method: M, request: Requests[M]): Buffer => {
  const [service, rpc] = method.split(".") as [ServiceName, string]
  return serviceConstructor(loadProtos(), SERVICES[service]).service[rpc]!.requestSerialize(request)
}

type UnaryMethod = (
  request: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response: unknown) => void
) => grpc.ClientUnaryCall

const failure = (method: string) => (error: unknown): ContainerdCallFailed => {
  const e = error as Partial<grpc.ServiceError>
  return new ContainerdCallFailed({ method, code: e.code ?? grpc.status.UNKNOWN, details: e.details ?? String(error) })
}

/** A client for `socket`; the channel is closed with the scope. */
export const makeClient = (socket: string, namespace: string): Effect.Effect<ContainerdClient, never, Scope.Scope> =>
  Effect.gen(function* () {
    const root = loadProtos()
    const address = `unix:${socket}`
    const credentials = grpc.credentials.createInsecure()
    const version = new (serviceConstructor(root, SERVICES.Version))(address, credentials)
    // one channel for all services: pass the first client's channel to the others
    const channelOverride = version.getChannel()
    const clients: Record<ServiceName, grpc.Client> = {
      Version: version,
      Containers: new (serviceConstructor(root, SERVICES.Containers))(address, credentials, { channelOverride }),
      Tasks: new (serviceConstructor(root, SERVICES.Tasks))(address, credentials, { channelOverride }),
      Events: new (serviceConstructor(root, SERVICES.Events))(address, credentials, { channelOverride })
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => version.close()))

    const metadata = () => {
      const md = new grpc.Metadata()
      md.set(NAMESPACE_HEADER, namespace)
      return md
    }

    const call = <M extends Method>(method: M, request: Requests[M], deadlineMs: number | null = DEFAULT_DEADLINE_MS) =>
      Effect.async<unknown, ContainerdCallFailed>((resume) => {
        const [service, rpc] = method.split(".") as [ServiceName, string]
        const client = clients[service] as unknown as Record<string, UnaryMethod>
        const options: grpc.CallOptions = deadlineMs === null ? {} : { deadline: Date.now() + deadlineMs }
        const pending = client[rpc]!.call(client, request, metadata(), options, (error, response) =>
          resume(error === null ? Effect.succeed(response) : Effect.fail(failure(method)(error)))
        )
        return Effect.sync(() => pending.cancel())
      })

    const subscribe = (filters: ReadonlyArray<string>) =>
      Stream.async<unknown, ContainerdCallFailed>((emit) => {
        const events = clients.Events as unknown as Record<string, (request: unknown, md: grpc.Metadata) => grpc.ClientReadableStream<unknown>>
        const stream = events["Subscribe"]!.call(clients.Events, { filters }, metadata())
        stream.on("data", (envelope: unknown) => void emit.single(envelope))
        stream.on("error", (error: unknown) => void emit.fail(failure("Events.Subscribe")(error)))
        stream.on("end", () => void emit.fail(new ContainerdCallFailed({ method: "Events.Subscribe", code: grpc.status.UNAVAILABLE, details: "the stream ended" })))
        return Effect.sync(() => {
          stream.removeAllListeners()
          stream.on("error", () => undefined)
          stream.cancel()
        })
      }, 1024)

    return { socket, namespace, call, subscribe }
  })
