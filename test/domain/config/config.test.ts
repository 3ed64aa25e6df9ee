import { Either, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { stringify } from "yaml"
import { decodeYaml } from "../../../src/adapters/config/yaml-decode.js"
import { Config, ConfigInput, defaultConfig } from "../../../src/domain/config/config.js"
import * as arb from "../../arbitraries/config.js"

const decodeConfigYaml = (text: string) => decodeYaml(Config, "config.yaml", text)

describe("Config", () => {
  it("fills every key the seed README documents with its default", () => {
    expect(defaultConfig).toEqual({
      server: { mcp_port: 3000, audit_retention_days: 90 },
      security: { default_policy: "restricted", allow_internet: false, max_cpu_cores: 4, max_memory_gb: 8 },
      environments: { templates_dir: "~/.config/hydravisor/templates", default_os: "debian:bookworm" },
      agents: { ssh_key_rotation_hours: 24, session_timeout_minutes: 120 },
      ledger: { checkpoint_every_records: 1000, checkpoint_every_seconds: 60 },
      store: { kind: "sqlite" }
    })
  })

  it("decodes the README's example file (with a Debian default_os)", () => {
    const text = [
      "server:",
      "  mcp_port: 3000",
      "  audit_retention_days: 90",
      "security:",
      "  default_policy: \"restricted\"",
      "  allow_internet: false",
      "  max_cpu_cores: 4",
      "  max_memory_gb: 8",
      "environments:",
      "  templates_dir: \"~/.config/hydravisor/templates\"",
      "  default_os: \"debian:bookworm\"",
      "agents:",
      "  ssh_key_rotation_hours: 24",
      "  session_timeout_minutes: 120",
      ""
    ].join("\n")
    expect(decodeConfigYaml(text)).toEqual(Either.right(defaultConfig))
  })

  it("keeps the keys a file sets and defaults the rest", () => {
    const result = decodeConfigYaml("server:\n  mcp_port: 4000\nstore:\n  kind: eventstoredb\n  connection: esdb://localhost:2113?tls=false\n")
    expect(result).toEqual(
      Either.right({
        ...defaultConfig,
        server: { ...defaultConfig.server, mcp_port: 4000 },
        store: { kind: "eventstoredb", connection: "esdb://localhost:2113?tls=false" }
      })
    )
  })

  it("accepts an empty partial input: every key is optional in a file", () => {
    expect(Schema.decodeUnknownEither(ConfigInput)({})).toEqual(Either.right({}))
    expect(Schema.decodeUnknownEither(ConfigInput)({ server: {} })).toEqual(Either.right({ server: {} }))
  })

  it.each([
    ["server:\n  mcp_port: 70000\n", "server.mcp_port", "expected a port number (1-65535), got 70000"],
    ["security:\n  max_memory_gb: 0\n", "security.max_memory_gb", "expected a positive number, got 0"],
    ["security:\n  allow_internet: \"no\"\n", "security.allow_internet", `expected a boolean, got "no"`],
    ["store:\n  kind: postgres\n", "store.kind", `expected one of "sqlite", "eventstoredb", got "postgres"`],
    ["ledger:\n  checkpoint_every_records: 1.5\n", "ledger.checkpoint_every_records", "expected a positive integer, got 1.5"],
    ["agents:\n  session_timeout_minuts: 5\n", "agents.session_timeout_minuts", "unknown key 'session_timeout_minuts' (did you mean 'session_timeout_minutes'?)"]
  ])("rejects %j naming %s on line 2", (text, field, reason) => {
    const result = decodeConfigYaml(text)
    expect(Either.isLeft(result) && result.left).toMatchObject({ file: "config.yaml", line: 2, column: 3, field, reason })
  })

  it("round-trips any valid config through YAML", () => {
    fc.assert(
      fc.property(arb.config, (config) => {
        const text = stringify(Schema.encodeSync(Config)(config))
        expect(decodeConfigYaml(text)).toEqual(Either.right(config))
      }),
      { numRuns: 200 }
    )
  })

  it("round-trips any valid partial config through YAML, and fills the same defaults as the Schema", () => {
    fc.assert(
      fc.property(arb.configInput, (input) => {
        const text = stringify(input)
        expect(decodeYaml(ConfigInput, "config.yaml", text)).toEqual(Either.right(input))
        expect(decodeConfigYaml(text)).toEqual(Either.right(Schema.decodeSync(Config)(input)))
      }),
      { numRuns: 200 }
    )
  })

  it("never throws on junk: any JSON value or text yields a config or an InvalidYaml", () => {
    const junk = fc.oneof(fc.jsonValue().map((value) => stringify(value)), fc.string({ maxLength: 200 }))
    fc.assert(
      fc.property(junk, (text) => {
        const result = decodeConfigYaml(text)
        expect(Either.isRight(result) || result.left._tag === "InvalidYaml").toBe(true)
      }),
      { numRuns: 300 }
    )
  })
})
