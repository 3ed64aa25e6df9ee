import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import fc from "fast-check"
import * as path from "node:path"
import { stringify } from "yaml"
import {
  configFilePath,
  configKeys,
  ConfigSource,
  envVariableFor,
  expandHome,
  formatSource,
  loadConfig
} from "../../../src/adapters/config/load-config.js"
import type { LoadConfigOptions, LoadedConfig } from "../../../src/adapters/config/load-config.js"
import { Config, defaultConfig } from "../../../src/domain/config/config.js"
import * as arb from "../../arbitraries/config.js"

/** A fresh home directory, removed when the test's scope closes, with `config` as its config.yaml. */
const homeWith = (config?: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const home = yield* fs.makeTempDirectoryScoped({ prefix: "hv-config-" })
    if (config !== undefined) {
      yield* fs.makeDirectory(path.join(home, ".config", "hydravisor"), { recursive: true })
      yield* fs.writeFileString(path.join(home, ".config", "hydravisor", "config.yaml"), config)
    }
    return home
  })

const load = (home: string, options: Partial<LoadConfigOptions> = {}) => loadConfig({ env: {}, home, ...options })

const sourceOf = (loaded: LoadedConfig, key: string) => {
  const entry = loaded.entries.find((candidate) => candidate.key === key)
  return entry === undefined ? "no such key" : formatSource(entry.source)
}

const configFile = (home: string) => path.join(home, ".config", "hydravisor", "config.yaml")

layer(NodeFileSystem.layer)("loadConfig", (it) => {
  it.scoped("uses the defaults when there is no config file", () =>
    Effect.gen(function*() {
      const home = yield* homeWith()
      const loaded = yield* load(home)
      expect(loaded.fileFound).toBe(false)
      expect(loaded.config).toEqual({
        ...defaultConfig,
        environments: { ...defaultConfig.environments, templates_dir: path.join(home, ".config/hydravisor/templates") }
      })
      expect(loaded.entries.every((entry) => entry.source._tag === "Default")).toBe(true)
    }))

  it.scoped("reads ~/.config/hydravisor/config.yaml and records the line each key came from", () =>
    Effect.gen(function*() {
      const home = yield* homeWith("# mine\nserver:\n  mcp_port: 4000\nsecurity:\n  max_memory_gb: 16\n")
      const loaded = yield* load(home)
      expect(loaded.fileFound).toBe(true)
      expect(loaded.config.server.mcp_port).toBe(4000)
      expect(loaded.config.security.max_memory_gb).toBe(16)
      expect(sourceOf(loaded, "server.mcp_port")).toBe(`${configFile(home)}:3`)
      expect(sourceOf(loaded, "security.max_memory_gb")).toBe(`${configFile(home)}:5`)
      expect(sourceOf(loaded, "server.audit_retention_days")).toBe("default")
    }))

  it.scoped("layers default < file < environment < flag", () =>
    Effect.gen(function*() {
      const home = yield* homeWith("server:\n  mcp_port: 4000\n  audit_retention_days: 30\nsecurity:\n  max_cpu_cores: 2\n")
      const loaded = yield* load(home, {
        env: { HYDRAVISOR_SERVER_MCP_PORT: "5000", HYDRAVISOR_SECURITY_MAX_CPU_CORES: "3" },
        flags: { server: { mcp_port: 6000 } }
      })
      expect(loaded.config.server).toEqual({ mcp_port: 6000, audit_retention_days: 30 })
      expect(loaded.config.security.max_cpu_cores).toBe(3)
      expect(loaded.config.security.max_memory_gb).toBe(8)
      expect(sourceOf(loaded, "server.mcp_port")).toBe("flag")
      expect(sourceOf(loaded, "security.max_cpu_cores")).toBe("env HYDRAVISOR_SECURITY_MAX_CPU_CORES")
      expect(sourceOf(loaded, "server.audit_retention_days")).toBe(`${configFile(home)}:3`)
      expect(sourceOf(loaded, "security.max_memory_gb")).toBe("default")
    }))

  it.scoped("reads numbers, booleans and strings from the environment", () =>
    Effect.gen(function*() {
      const home = yield* homeWith()
      const loaded = yield* load(home, {
        env: {
          HYDRAVISOR_SECURITY_ALLOW_INTERNET: "true",
          HYDRAVISOR_SECURITY_MAX_MEMORY_GB: "0.5",
          HYDRAVISOR_STORE_KIND: "eventstoredb",
          HYDRAVISOR_STORE_CONNECTION: "esdb://localhost:2113?tls=false"
        }
      })
      expect(loaded.config.security).toMatchObject({ allow_internet: true, max_memory_gb: 0.5 })
      expect(loaded.config.store).toEqual({ kind: "eventstoredb", connection: "esdb://localhost:2113?tls=false" })
    }))

  it.scoped("names the variable when an environment value is invalid", () =>
    Effect.gen(function*() {
      const home = yield* homeWith()
      const error = yield* Effect.flip(load(home, { env: { HYDRAVISOR_SERVER_MCP_PORT: "abc" } }))
      expect(error).toMatchObject({
        _tag: "InvalidConfigVariable",
        variable: "HYDRAVISOR_SERVER_MCP_PORT",
        field: "server.mcp_port",
        message: `environment variable HYDRAVISOR_SERVER_MCP_PORT: server.mcp_port: expected a port number (1-65535), got "abc"`
      })
    }))

  it.scoped("rejects an invalid file with file, line and field", () =>
    Effect.gen(function*() {
      const home = yield* homeWith("server:\n  mcp_port: 3000\nsecurity:\n  max_memroy_gb: 8\n")
      const error = yield* Effect.flip(load(home))
      expect(error).toMatchObject({ _tag: "InvalidYaml", file: configFile(home), line: 4, column: 3 })
      expect(error.message).toBe(
        `${configFile(home)}:4:3: security.max_memroy_gb: unknown key 'max_memroy_gb' (did you mean 'max_memory_gb'?)`
      )
    }))

  it.scoped("rejects a config file that is not YAML, at its line", () =>
    Effect.gen(function*() {
      const home = yield* homeWith("server:\n  mcp_port: [3000\n")
      const error = yield* Effect.flip(load(home))
      expect(error._tag).toBe("InvalidYaml")
      expect(error.message).toMatch(new RegExp(`^${configFile(home)}:\\d+:\\d+: invalid YAML`))
    }))

  it.scoped("rejects an invalid flag, naming it", () =>
    Effect.gen(function*() {
      const home = yield* homeWith()
      const error = yield* Effect.flip(load(home, { flags: { security: { max_cpu_cores: -1 } } }))
      expect(error).toMatchObject({
        _tag: "InvalidConfigFlag",
        field: "security.max_cpu_cores",
        message: "flag security.max_cpu_cores: expected a positive number, got -1"
      })
    }))

  it.scoped("reads the file named by HYDRAVISOR_CONFIG, expanding ~", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const home = yield* homeWith("server:\n  mcp_port: 1111\n")
      yield* fs.writeFileString(path.join(home, "other.yaml"), "server:\n  mcp_port: 2222\n")
      const loaded = yield* load(home, { env: { HYDRAVISOR_CONFIG: "~/other.yaml" } })
      expect(loaded.file).toBe(path.join(home, "other.yaml"))
      expect(loaded.config.server.mcp_port).toBe(2222)
    }))

  it.scoped("looks under XDG_CONFIG_HOME when it is set", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const home = yield* homeWith("server:\n  mcp_port: 1111\n")
      const xdg = path.join(home, "xdg")
      yield* fs.makeDirectory(path.join(xdg, "hydravisor"), { recursive: true })
      yield* fs.writeFileString(path.join(xdg, "hydravisor", "config.yaml"), "server:\n  mcp_port: 3333\n")
      const loaded = yield* load(home, { env: { XDG_CONFIG_HOME: xdg } })
      expect(loaded.config.server.mcp_port).toBe(3333)
      expect(sourceOf(loaded, "server.mcp_port")).toBe(`${path.join(xdg, "hydravisor", "config.yaml")}:2`)
    }))

  it.scoped("expands ~ in templates_dir and witness_file", () =>
    Effect.gen(function*() {
      const home = yield* homeWith("environments:\n  templates_dir: ~/tpl\nledger:\n  witness_file: ~/witness/checkpoints\n")
      const loaded = yield* load(home)
      expect(loaded.config.environments.templates_dir).toBe(path.join(home, "tpl"))
      expect(loaded.config.ledger.witness_file).toBe(path.join(home, "witness/checkpoints"))
    }))

  it.scoped("treats an empty config file as no settings", () =>
    Effect.gen(function*() {
      const home = yield* homeWith("# nothing yet\n")
      const loaded = yield* load(home)
      expect(loaded.fileFound).toBe(true)
      expect(loaded.config.server).toEqual(defaultConfig.server)
    }))

  it.scoped("gives any valid file's values back, each sourced to the file", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const home = yield* homeWith()
      const file = path.join(home, "config.yaml")
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(arb.configInput, (input) =>
            Effect.runPromise(
              Effect.gen(function*() {
                yield* fs.writeFileString(file, stringify(input))
                const loaded = yield* loadConfig({ env: { HYDRAVISOR_CONFIG: file }, home: "/home/agent" })
                const decoded = Schema.decodeSync(Config)(input)
                const witness = decoded.ledger.witness_file
                expect(loaded.config).toEqual({
                  ...decoded,
                  environments: {
                    ...decoded.environments,
                    templates_dir: expandHome(decoded.environments.templates_dir, "/home/agent")
                  },
                  ledger: witness === undefined
                    ? decoded.ledger
                    : { ...decoded.ledger, witness_file: expandHome(witness, "/home/agent") }
                })
                for (const [section, keys] of Object.entries(input)) {
                  for (const key of Object.keys(keys as object)) {
                    expect(sourceOf(loaded, `${section}.${key}`)).toMatch(new RegExp(`^${file}:\\d+$`))
                  }
                }
              }).pipe(Effect.provide(NodeFileSystem.layer))
            )),
          { numRuns: 50 }
        )
      )
    }))

  it.scoped("never throws on junk in the environment: a config or a tagged error", () =>
    Effect.gen(function*() {
      const home = yield* homeWith()
      const variables = configKeys.map(envVariableFor)
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.dictionary(fc.constantFrom(...variables), fc.string({ maxLength: 20 })), (env) =>
            Effect.runPromise(
              loadConfig({ env, home }).pipe(
                Effect.either,
                Effect.map((result) => {
                  if (Either.isLeft(result)) {
                    expect(result.left._tag).toBe("InvalidConfigVariable")
                    if (result.left._tag === "InvalidConfigVariable") expect(variables).toContain(result.left.variable)
                  }
                }),
                Effect.provide(NodeFileSystem.layer)
              )
            )),
          { numRuns: 200 }
        )
      )
    }))
})

describe("configuration keys", () => {
  it("derive one environment variable per key from its path", () => {
    const variables = configKeys.map(envVariableFor)
    expect(variables).toContain("HYDRAVISOR_SERVER_MCP_PORT")
    expect(variables).toContain("HYDRAVISOR_SECURITY_MAX_MEMORY_GB")
    expect(variables).toContain("HYDRAVISOR_LEDGER_WITNESS_FILE")
    expect(variables).toHaveLength(15)
    expect(new Set(variables).size).toBe(variables.length)
  })

  it("format their sources for `config show`", () => {
    expect(formatSource(ConfigSource.Default())).toBe("default")
    expect(formatSource(ConfigSource.File({ file: "/etc/x.yaml", line: 3 }))).toBe("/etc/x.yaml:3")
    expect(formatSource(ConfigSource.Env({ variable: "HYDRAVISOR_SERVER_MCP_PORT" }))).toBe(
      "env HYDRAVISOR_SERVER_MCP_PORT"
    )
    expect(formatSource(ConfigSource.Flag())).toBe("flag")
  })

  it("find the config file: HYDRAVISOR_CONFIG, then XDG_CONFIG_HOME, then ~/.config", () => {
    expect(configFilePath({}, "/home/a")).toBe("/home/a/.config/hydravisor/config.yaml")
    expect(configFilePath({ XDG_CONFIG_HOME: "/xdg" }, "/home/a")).toBe("/xdg/hydravisor/config.yaml")
    expect(configFilePath({ XDG_CONFIG_HOME: "relative" }, "/home/a")).toBe("/home/a/.config/hydravisor/config.yaml")
    expect(configFilePath({ HYDRAVISOR_CONFIG: "~/c.yaml", XDG_CONFIG_HOME: "/xdg" }, "/home/a")).toBe("/home/a/c.yaml")
  })
})
