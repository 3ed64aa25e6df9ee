// Hydravisor's configuration, defined once: the keys of `config.yaml` (snake_case, as written there),
// their checks and their defaults. Every key may be left out of a file; `ConfigInput` is that partial
// form (also used for environment variables and flags), and decoding it with `Config` fills defaults.
import { Schema } from "effect"

export const PositiveInt = Schema.Int.pipe(
  Schema.positive(),
  Schema.annotations({ identifier: "PositiveInt", description: "a positive integer" })
)
export const PositiveNumber = Schema.Number.pipe(
  Schema.finite(),
  Schema.positive(),
  Schema.annotations({ identifier: "PositiveNumber", description: "a positive number" })
)
export const Port = Schema.Int.pipe(
  Schema.between(1, 65535),
  Schema.annotations({ identifier: "Port", description: "a port number (1-65535)" })
)
export const PolicyName = Schema.String.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9_-]{0,62}$/),
  Schema.annotations({ identifier: "PolicyName", description: "a policy name (lower-case letters, digits, '-' and '_')" })
)
/** A path on the host; a leading `~` is the user's home, expanded when the config is loaded. */
export const HostPath = Schema.String.pipe(
  Schema.minLength(1),
  Schema.filter((path) => !path.includes("\0")),
  Schema.annotations({ identifier: "HostPath", description: "a file path" })
)
export const StoreKind = Schema.Literal("sqlite", "eventstoredb")
export type StoreKind = Schema.Schema.Type<typeof StoreKind>

const setting = <A, I>(schema: Schema.Schema<A, I>, value: A) =>
  Schema.optionalWith(schema, { exact: true, default: () => value })

const optionalSetting = <A, I>(schema: Schema.Schema<A, I>) => Schema.optionalWith(schema, { exact: true })

/** A section left out of the file is a section with every default. */
const section = <A, I>(schema: Schema.Schema<A, I>) =>
  Schema.optionalWith(schema, { exact: true, default: () => Schema.decodeUnknownSync(schema)({}) })

export const ServerConfig = Schema.Struct({
  mcp_port: setting(Port, 3000),
  audit_retention_days: setting(PositiveInt, 90)
})

export const SecurityConfig = Schema.Struct({
  default_policy: setting(PolicyName, "restricted"),
  allow_internet: setting(Schema.Boolean, false),
  max_cpu_cores: setting(PositiveNumber, 4),
  max_memory_gb: setting(PositiveNumber, 8)
})

export const EnvironmentsConfig = Schema.Struct({
  templates_dir: setting(HostPath, "~/.config/hydravisor/templates"),
  // Images are built locally from Debian's packages (debootstrap), so the default is a Debian release
  // rather than the Ubuntu image in the original README.
  default_os: setting(
    Schema.String.pipe(
      Schema.pattern(/^[a-z0-9][a-z0-9._-]*:[a-z0-9][a-z0-9._-]*$/),
      Schema.annotations({ description: "a distribution:release (e.g. debian:bookworm)" })
    ),
    "debian:bookworm"
  )
})

export const AgentsConfig = Schema.Struct({
  ssh_key_rotation_hours: setting(PositiveInt, 24),
  session_timeout_minutes: setting(PositiveInt, 120)
})

export const LedgerConfig = Schema.Struct({
  checkpoint_every_records: setting(PositiveInt, 1000),
  checkpoint_every_seconds: setting(PositiveInt, 60),
  /** Where checkpoints are also written, outside the store, so a cut-off tail is detected. */
  witness_file: optionalSetting(HostPath)
})

export const StoreConfig = Schema.Struct({
  kind: setting(StoreKind, "sqlite"),
  /** sqlite: the database file; eventstoredb: a connection string (`esdb://host:2113?tls=false`). */
  connection: optionalSetting(Schema.String.pipe(Schema.minLength(1), Schema.annotations({ description: "a non-empty string" })))
})

export const Config = Schema.Struct({
  server: section(ServerConfig),
  security: section(SecurityConfig),
  environments: section(EnvironmentsConfig),
  agents: section(AgentsConfig),
  ledger: section(LedgerConfig),
  store: section(StoreConfig)
})
export type Config = Schema.Schema.Type<typeof Config>

/** The partial form of a config: what a file, the environment or flags may set. Checks kept, no defaults. */
export const ConfigInput = Schema.encodedBoundSchema(Config)
export type ConfigInput = Schema.Schema.Encoded<typeof Config>

export const defaultConfig: Config = Schema.decodeUnknownSync(Config)({})
