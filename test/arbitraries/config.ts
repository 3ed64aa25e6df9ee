// Arbitraries for configuration and sandbox templates: every value they make is valid by the Schemas
// in src/domain/config and src/domain/sandbox, so round-trip and decoder properties can use them.
import fc from "fast-check"
import type { Config, ConfigInput } from "../../src/domain/config/config.js"
import type { AllowlistEntry, Network, Resources, Rootfs, Template } from "../../src/domain/sandbox/template.js"

/** Any text a person could put in a YAML file: well-formed Unicode, no NUL. */
export const text = (minLength = 0): fc.Arbitrary<string> =>
  fc.string({ unit: "grapheme", minLength, maxLength: 40 }).filter((s) => !s.includes("\0"))

export const positiveInt = (max = 1_000_000): fc.Arbitrary<number> => fc.integer({ min: 1, max })

export const positiveNumber = (max = 1024): fc.Arbitrary<number> =>
  fc.oneof(
    fc.integer({ min: 1, max }),
    fc.double({ min: Number.MIN_VALUE, max, noNaN: true, noDefaultInfinity: true })
  )

export const port = fc.integer({ min: 1, max: 65535 })
export const policyName = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/)
export const hostPath = text(1)
export const defaultOs = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,10}:[a-z0-9][a-z0-9._-]{0,10}$/)

/** A complete, valid config: what decoding any valid file yields. */
export const config: fc.Arbitrary<Config> = fc.record({
  server: fc.record({ mcp_port: port, audit_retention_days: positiveInt() }),
  security: fc.record({
    default_policy: policyName,
    allow_internet: fc.boolean(),
    max_cpu_cores: positiveNumber(),
    max_memory_gb: positiveNumber()
  }),
  environments: fc.record({ templates_dir: hostPath, default_os: defaultOs }),
  agents: fc.record({ ssh_key_rotation_hours: positiveInt(), session_timeout_minutes: positiveInt() }),
  ledger: fc.record(
    { checkpoint_every_records: positiveInt(), checkpoint_every_seconds: positiveInt(), witness_file: hostPath },
    { requiredKeys: ["checkpoint_every_records", "checkpoint_every_seconds"] }
  ),
  store: fc.record(
    { kind: fc.constantFrom("sqlite" as const, "eventstoredb" as const), connection: text(1) },
    { requiredKeys: ["kind"] }
  )
})

/** A valid partial config, as a file, the environment or flags may give it: any key may be absent. */
export const configInput: fc.Arbitrary<ConfigInput> = fc.record(
  {
    server: fc.record({ mcp_port: port, audit_retention_days: positiveInt() }, { requiredKeys: [] }),
    security: fc.record(
      {
        default_policy: policyName,
        allow_internet: fc.boolean(),
        max_cpu_cores: positiveNumber(),
        max_memory_gb: positiveNumber()
      },
      { requiredKeys: [] }
    ),
    environments: fc.record({ templates_dir: hostPath, default_os: defaultOs }, { requiredKeys: [] }),
    agents: fc.record({ ssh_key_rotation_hours: positiveInt(), session_timeout_minutes: positiveInt() }, { requiredKeys: [] }),
    ledger: fc.record(
      { checkpoint_every_records: positiveInt(), checkpoint_every_seconds: positiveInt(), witness_file: hostPath },
      { requiredKeys: [] }
    ),
    store: fc.record(
      { kind: fc.constantFrom("sqlite" as const, "eventstoredb" as const), connection: text(1) },
      { requiredKeys: [] }
    )
  },
  { requiredKeys: [] }
)

export const templateName = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,30}$/)
export const debianPackage = fc.stringMatching(/^[a-z0-9][a-z0-9+.-]{1,20}$/)
export const envName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/)

const ipv4Cidr = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([ip, prefix]) => `${ip}/${prefix}`)
const ipv6Cidr = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([ip, prefix]) => `${ip}/${prefix}`)
const wildcardDomain = fc.domain().map((domain) => `*.${domain}`).filter((pattern) => pattern.length <= 255)

export const hostPattern: fc.Arbitrary<string> = fc.oneof(
  fc.domain(),
  wildcardDomain,
  fc.ipV4(),
  ipv4Cidr,
  fc.ipV6(),
  ipv6Cidr
)

export const allowlistEntry: fc.Arbitrary<AllowlistEntry> = fc.record({ host: hostPattern, port }, { requiredKeys: ["host"] })

export const network: fc.Arbitrary<Network> = fc.oneof(
  fc.constantFrom<Network>({ mode: "none" }, { mode: "open" }),
  fc.record({ mode: fc.constant("allowlist" as const), allowlist: fc.array(allowlistEntry, { maxLength: 4 }) }, {
    requiredKeys: ["mode"]
  })
)

export const rootfs: fc.Arbitrary<Rootfs> = fc.oneof(
  fc.constant({ kind: "host" as const }),
  fc.record({ kind: fc.constant("image" as const), packages: fc.array(debianPackage, { maxLength: 5 }) })
)

export const resources: fc.Arbitrary<Resources> = fc.record(
  { cpu_cores: positiveNumber(64), memory_mb: positiveInt(1 << 20), pids: positiveInt(1 << 16), disk_gb: positiveNumber(4096), file_handles: fc.integer({ min: 16, max: 1 << 20 }), network_mbps: positiveNumber(10_000) },
  { requiredKeys: ["cpu_cores", "memory_mb", "pids"] }
)

export const template: fc.Arbitrary<Template> = fc.record(
  {
    name: templateName,
    description: text(),
    runner: fc.constantFrom("bwrap" as const, "containerd" as const, "qemu" as const),
    rootfs,
    resources,
    network,
    default_policy: policyName,
    env: fc.dictionary(envName, text(), { maxKeys: 4 }),
    packages: fc.array(debianPackage, { maxLength: 5 }),
    session_duration_hours: positiveNumber(720)
  },
  { requiredKeys: ["name", "description", "runner", "rootfs", "resources", "network", "default_policy"] }
)
