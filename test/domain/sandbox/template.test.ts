import { Either, Schema } from "effect"
import fc from "fast-check"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { stringify } from "yaml"
import { decodeYaml } from "../../../src/adapters/config/yaml-decode.js"
import { defaultConfig } from "../../../src/domain/config/config.js"
import { checkAgainstLimits, Template } from "../../../src/domain/sandbox/template.js"
import type { Resources } from "../../../src/domain/sandbox/template.js"
import * as arb from "../../arbitraries/config.js"

const templatesDir = fileURLToPath(new URL("../../../templates/", import.meta.url))
const builtins = readdirSync(templatesDir).filter((name) => name.endsWith(".yaml")).sort()
const readBuiltin = (name: string) => readFileSync(`${templatesDir}${name}`, "utf8")

const decodeTemplate = (text: string, file = "templates/python-dev.yaml") => decodeYaml(Template, file, text)

const failureOf = (text: string) => {
  const result = decodeTemplate(text)
  if (Either.isRight(result)) throw new Error("expected the template to be rejected")
  return result.left
}

/** python-dev.yaml with one line replaced (1-based), to break it in one known place. */
// python-dev as it will read once allowlist egress lands (network section at lines 12-18).
const withAllowlist = (line: number, replacement: string) => {
  const text = readBuiltin("python-dev.yaml").replace(
    /# Loopback only[\s\S]*?network:\n  mode: none\n/,
    "network:\n  mode: allowlist\n  allowlist:\n    - host: pypi.org\n      port: 443\n    - host: files.pythonhosted.org\n      port: 443\n"
  )
  const lines = text.split("\n")
  lines[line - 1] = replacement
  return lines.join("\n")
}

const pythonDevWith = (line: number, replacement: string) => {
  const lines = readBuiltin("python-dev.yaml").split("\n")
  lines[line - 1] = replacement
  return lines.join("\n")
}

describe("built-in templates", () => {
  it("ships the four templates the README uses", () => {
    expect(builtins).toEqual(["nodejs-sandbox.yaml", "python-dev.yaml", "research-env.yaml", "shared-dev.yaml"])
  })

  it.each(builtins)("%s decodes, names itself after its file and says what it is for", (file) => {
    const text = readBuiltin(file)
    const result = decodeTemplate(text, `templates/${file}`)
    expect(result).toMatchObject(Either.right({ name: file.replace(/\.yaml$/, "") }))
    expect(text.startsWith("# ")).toBe(true)
  })

  it.each(builtins)("%s runs on bwrap over the host's rootfs, within the default limits", (file) => {
    const template = decodeTemplate(readBuiltin(file)).pipe(Either.getOrThrow)
    expect(template.runner).toBe("bwrap")
    expect(template.rootfs).toEqual({ kind: "host" })
    expect(Either.isRight(checkAgainstLimits(template.resources, defaultConfig))).toBe(true)
  })

  it("gives python-dev 1 cpu, 512 MB and 128 pids", () => {
    const template = decodeTemplate(readBuiltin("python-dev.yaml")).pipe(Either.getOrThrow)
    expect(template.resources).toMatchObject({ cpu_cores: 1, memory_mb: 512, pids: 128 })
  })

  it("gives research-env no network and tighter limits than python-dev", () => {
    const research = decodeTemplate(readBuiltin("research-env.yaml")).pipe(Either.getOrThrow)
    const python = decodeTemplate(readBuiltin("python-dev.yaml")).pipe(Either.getOrThrow)
    expect(research.network).toEqual({ mode: "none" })
    expect(research.resources.memory_mb).toBeLessThan(python.resources.memory_mb)
    expect(research.resources.pids).toBeLessThan(python.resources.pids)
  })
})

describe("Template decoding errors name the file, the line and the field", () => {
  it("a typo'd key, with the key it probably meant", () => {
    expect(failureOf(pythonDevWith(7, "  memroy_mb: 512")).message).toBe(
      [
        "templates/python-dev.yaml:5:1: resources.memory_mb: missing; expected a positive integer",
        "templates/python-dev.yaml:7:3: resources.memroy_mb: unknown key 'memroy_mb' (did you mean 'memory_mb'?)"
      ].join("\n")
    )
  })

  it("a negative limit", () => {
    expect(failureOf(pythonDevWith(7, "  memory_mb: -5")).message).toBe(
      "templates/python-dev.yaml:7:3: resources.memory_mb: expected a positive integer, got -5"
    )
  })

  it("a wrong type", () => {
    expect(failureOf(pythonDevWith(8, "  pids: lots")).message).toBe(
      `templates/python-dev.yaml:8:3: resources.pids: expected a positive integer, got "lots"`
    )
  })

  it("a missing field", () => {
    expect(failureOf(pythonDevWith(3, "")).message).toBe(
      "templates/python-dev.yaml:2:1: description: missing; expected a string"
    )
  })

  it("an unknown runner, listing the known ones", () => {
    expect(failureOf(pythonDevWith(4, "runner: lxc")).message).toBe(
      `templates/python-dev.yaml:4:1: runner: expected one of "bwrap", "containerd", "qemu", got "lxc"`
    )
  })

  it("an image rootfs without its packages", () => {
    expect(failureOf(pythonDevWith(11, "  kind: image")).message).toBe(
      "templates/python-dev.yaml:10:1: rootfs.packages: missing; expected a list"
    )
  })

  it("a bad allowlist host", () => {
    expect(failureOf(withAllowlist(15, "    - host: not a host")).message).toBe(
      `templates/python-dev.yaml:15:7: network.allowlist[0].host: expected a host name, IP address or CIDR block, got "not a host"`
    )
  })

  it("allowlist entries under a network mode that has none", () => {
    expect(failureOf(withAllowlist(13, "  mode: none")).message).toBe(
      `templates/python-dev.yaml:14:3: network.allowlist: entries only apply when mode is "allowlist" (mode is "none")`
    )
  })

  it("a YAML syntax error, at its line", () => {
    const error = failureOf(pythonDevWith(7, "  memory_mb: [512"))
    expect(error.file).toBe("templates/python-dev.yaml")
    expect(error.line).toBeGreaterThanOrEqual(7)
    expect(error.message).toMatch(/^templates\/python-dev\.yaml:\d+:\d+: invalid YAML: /)
  })
})

describe("checkAgainstLimits", () => {
  const resources: Resources = { cpu_cores: 2, memory_mb: 4096, pids: 100 }
  const limits = { security: { ...defaultConfig.security, max_cpu_cores: 4, max_memory_gb: 8 } }

  it("accepts resources within the configured maxima, including exactly at them", () => {
    expect(checkAgainstLimits(resources, limits)).toEqual(Either.right(resources))
    expect(Either.isRight(checkAgainstLimits({ ...resources, cpu_cores: 4, memory_mb: 8192 }, limits))).toBe(true)
  })

  it("rejects too many cores, naming the limit and its configured max", () => {
    const result = checkAgainstLimits({ ...resources, cpu_cores: 6 }, limits)
    expect(Either.isLeft(result) && result.left).toMatchObject({
      _tag: "ResourcesExceedLimits",
      violations: [{ limit: "security.max_cpu_cores", requested: 6, max: 4 }],
      message: "cpu_cores 6 exceeds security.max_cpu_cores (4)"
    })
  })

  it("rejects too much memory, naming the limit in GB and MB", () => {
    const result = checkAgainstLimits({ ...resources, memory_mb: 8193 }, limits)
    expect(Either.isLeft(result) && result.left).toMatchObject({
      violations: [{ limit: "security.max_memory_gb", requested: 8193, max: 8192 }],
      message: "memory_mb 8193 exceeds security.max_memory_gb (8 GB = 8192 MB)"
    })
  })

  it("reports every exceeded limit at once", () => {
    const result = checkAgainstLimits({ ...resources, cpu_cores: 5, memory_mb: 9000 }, limits)
    expect(Either.isLeft(result) && result.left.violations.map((violation) => violation.limit)).toEqual([
      "security.max_cpu_cores",
      "security.max_memory_gb"
    ])
  })

  it("accepts exactly the resources within both maxima", () => {
    fc.assert(
      fc.property(arb.resources, arb.config, (resources, config) => {
        const within = resources.cpu_cores <= config.security.max_cpu_cores &&
          resources.memory_mb <= config.security.max_memory_gb * 1024
        expect(Either.isRight(checkAgainstLimits(resources, config))).toBe(within)
      })
    )
  })
})

describe("Template properties", () => {
  it("round-trips any valid template through YAML", () => {
    fc.assert(
      fc.property(arb.template, (template) => {
        const text = stringify(Schema.encodeSync(Template)(template))
        expect(decodeTemplate(text)).toEqual(Either.right(template))
      }),
      { numRuns: 300 }
    )
  })

  it("reports a key added to a valid template as unknown, at its line", () => {
    const unknownKey = fc.stringMatching(/^[a-z][a-z_]{2,12}$/).filter((key) => !Object.hasOwn(Template.fields, key))
    fc.assert(
      fc.property(arb.template, unknownKey, (template, key) => {
        const text = `${stringify(Schema.encodeSync(Template)(template))}${key}: 1\n`
        const result = decodeTemplate(text)
        expect(Either.isLeft(result) && result.left).toMatchObject({
          field: key,
          line: text.split("\n").length - 1,
          reason: expect.stringMatching(new RegExp(`^unknown key '${key}'`))
        })
      }),
      { numRuns: 100 }
    )
  })

  it("never throws on junk: any JSON value or text yields a template or an InvalidYaml", () => {
    const junk = fc.oneof(fc.jsonValue().map((value) => stringify(value)), fc.string({ maxLength: 300 }))
    fc.assert(
      fc.property(junk, (text) => {
        const result = decodeTemplate(text)
        expect(Either.isRight(result) || result.left._tag === "InvalidYaml").toBe(true)
      }),
      { numRuns: 300 }
    )
  })
})
