// A sandbox template (`templates/<name>.yaml`): which runner, what root filesystem, what limits and
// network an environment gets. Defined once as a Schema; `checkAgainstLimits` holds a template's
// resources against the operator's configured maxima.
import { Data, Either, Schema } from "effect"
import { PolicyName, Port, PositiveInt, PositiveNumber } from "../config/config.js"
import type { Config } from "../config/config.js"

export const TemplateName = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9-]{0,62}$/),
  Schema.annotations({ identifier: "TemplateName", description: "a template name (lower-case letters, digits and '-')" })
)

export const RunnerKind = Schema.Literal("bwrap", "containerd", "qemu")
export type RunnerKind = Schema.Schema.Type<typeof RunnerKind>

export const DebianPackage = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9+.-]+$/),
  Schema.annotations({ identifier: "DebianPackage", description: "a Debian package name" })
)

/** `host`: the host's /usr read-only (bwrap only, nothing to build); `image`: a rootfs built from Debian. */
export const Rootfs = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("host") }),
  Schema.Struct({ kind: Schema.Literal("image"), packages: Schema.Array(DebianPackage) })
)
export type Rootfs = Schema.Schema.Type<typeof Rootfs>

/** Open files per process (RLIMIT_NOFILE): at least what a sandbox's own setup needs, at most Linux's default nr_open. */
export const FileHandles = Schema.Int.pipe(
  Schema.between(16, 1_048_576),
  Schema.annotations({ identifier: "FileHandles", description: "open files per process, 16 to 1048576" })
)

export const Resources = Schema.Struct({
  cpu_cores: PositiveNumber,
  memory_mb: PositiveInt,
  pids: PositiveInt,
  disk_gb: Schema.optionalWith(PositiveNumber, { exact: true }),
  /** Open files per process (RLIMIT_NOFILE, soft and hard); the runner's default when left out. */
  file_handles: Schema.optionalWith(FileHandles, { exact: true }),
  /** Megabits per second each way through the egress proxy (the only way out); no limit when left out. */
  network_mbps: Schema.optionalWith(PositiveNumber, { exact: true })
})
export type Resources = Schema.Schema.Type<typeof Resources>

const octet = "(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"
const ipv4 = new RegExp(`^${octet}(\\.${octet}){3}(/(3[0-2]|[12]?\\d))?$`)
const ipv6 = /^(?=.*:.*:)[0-9a-f:.]{2,45}(\/(12[0-8]|1[01]\d|[1-9]?\d))?$/i
const hostname = /^(\*\.)?(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i

/** A host name (`pypi.org`, `*.debian.org`), an address or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
export const HostPattern = Schema.String.pipe(
  Schema.filter((text) => ipv4.test(text) || ipv6.test(text) || hostname.test(text)),
  Schema.annotations({ identifier: "HostPattern", description: "a host name, IP address or CIDR block" })
)

export const AllowlistEntry = Schema.Struct({
  host: HostPattern,
  /** Any port when left out. */
  port: Schema.optionalWith(Port, { exact: true })
})
export type AllowlistEntry = Schema.Schema.Type<typeof AllowlistEntry>

export const NetworkMode = Schema.Literal("none", "allowlist", "open")
export type NetworkMode = Schema.Schema.Type<typeof NetworkMode>

export const Network = Schema.Struct({
  mode: NetworkMode,
  allowlist: Schema.optionalWith(Schema.Array(AllowlistEntry), { exact: true })
}).pipe(
  Schema.filter((network) =>
    network.mode === "allowlist" || network.allowlist === undefined || network.allowlist.length === 0
      ? undefined
      : { path: ["allowlist"], message: `entries only apply when mode is "allowlist" (mode is "${network.mode}")` }
  )
)
export type Network = Schema.Schema.Type<typeof Network>

export const EnvName = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/),
  Schema.annotations({ identifier: "EnvName", description: "an environment variable name (letters, digits and '_')" })
)

export const Template = Schema.Struct({
  name: TemplateName,
  description: Schema.String,
  runner: RunnerKind,
  rootfs: Rootfs,
  resources: Resources,
  network: Network,
  default_policy: PolicyName,
  env: Schema.optionalWith(Schema.Record({ key: EnvName, value: Schema.String }), { exact: true }),
  /** Debian packages the workload needs on top of the root filesystem. */
  packages: Schema.optionalWith(Schema.Array(DebianPackage), { exact: true }),
  session_duration_hours: Schema.optionalWith(PositiveNumber, { exact: true })
})
export type Template = Schema.Schema.Type<typeof Template>

/** `requested` and `max` are in the resource's own unit: cores, or MB of memory. */
export interface LimitViolation {
  readonly limit: "security.max_cpu_cores" | "security.max_memory_gb"
  readonly requested: number
  readonly max: number
  readonly reason: string
}

/** A template asks for more than the operator allows. */
export class ResourcesExceedLimits extends Data.TaggedError("ResourcesExceedLimits")<{
  readonly violations: readonly [LimitViolation, ...Array<LimitViolation>]
  readonly message: string
}> {}

/** Resources within `security.max_cpu_cores` and `security.max_memory_gb`, or every limit exceeded. */
export const checkAgainstLimits = (
  resources: Resources,
  config: Pick<Config, "security">
): Either.Either<Resources, ResourcesExceedLimits> => {
  const { max_cpu_cores, max_memory_gb } = config.security
  const violations: Array<LimitViolation> = []
  if (resources.cpu_cores > max_cpu_cores) {
    violations.push({
      limit: "security.max_cpu_cores",
      requested: resources.cpu_cores,
      max: max_cpu_cores,
      reason: `cpu_cores ${resources.cpu_cores} exceeds security.max_cpu_cores (${max_cpu_cores})`
    })
  }
  if (resources.memory_mb > max_memory_gb * 1024) {
    violations.push({
      limit: "security.max_memory_gb",
      requested: resources.memory_mb,
      max: max_memory_gb * 1024,
      reason: `memory_mb ${resources.memory_mb} exceeds security.max_memory_gb (${max_memory_gb} GB = ${max_memory_gb * 1024} MB)`
    })
  }
  const [first, ...rest] = violations
  return first === undefined
    ? Either.right(resources)
    : Either.left(new ResourcesExceedLimits({ violations: [first, ...rest], message: violations.map((v) => v.reason).join("; ") }))
}

/** The Debian packages of a template's image: its image rootfs's, else its workload packages. */
export const imagePackages = (template: Template): ReadonlyArray<string> =>
  template.rootfs.kind === "image" ? template.rootfs.packages : template.packages ?? []
