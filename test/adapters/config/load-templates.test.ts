import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { expect, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import {
  builtinTemplatesDir,
  findTemplate,
  loadTemplates,
  packageRoot
} from "../../../src/adapters/config/load-templates.js"

const repositoryRoot = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "")

const researchEnv = (overrides: { readonly name?: string; readonly memory?: string } = {}) =>
  [
    "# my own research-env",
    `name: ${overrides.name ?? "research-env"}`,
    "description: stricter still",
    "runner: bwrap",
    "rootfs: {kind: host}",
    "resources:",
    "  cpu_cores: 0.25",
    `  memory_mb: ${overrides.memory ?? "128"}`,
    "  pids: 32",
    "network: {mode: none}",
    "default_policy: restricted",
    ""
  ].join("\n")

/** A user templates directory, removed with the test's scope, holding `files`. */
const userDir = (files: Record<string, string>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = yield* fs.makeTempDirectoryScoped({ prefix: "hv-templates-" })
    for (const [name, text] of Object.entries(files)) yield* fs.writeFileString(path.join(dir, name), text)
    return dir
  })

layer(NodeFileSystem.layer)("loadTemplates", (it) => {
  it.effect("finds the package root by walking up to the nearest package.json", () =>
    Effect.gen(function*() {
      expect(yield* packageRoot).toBe(repositoryRoot)
      expect(yield* builtinTemplatesDir).toBe(path.join(repositoryRoot, "templates"))
    }))

  it.scoped("loads the built-in templates, sorted by name, shown relative to the package", () =>
    Effect.gen(function*() {
      const catalog = yield* loadTemplates({ userDir: path.join(yield* userDir({}), "missing") })
      expect([...catalog.keys()]).toEqual(["nodejs-sandbox", "python-dev", "research-env", "shared-dev"])
      expect(catalog.get("python-dev")).toMatchObject({ origin: "builtin", file: "templates/python-dev.yaml" })
    }))

  it.scoped("lets a user template replace the built-in of the same name and add new ones", () =>
    Effect.gen(function*() {
      const dir = yield* userDir({
        "research-env.yaml": researchEnv(),
        "tiny.yml": researchEnv({ name: "tiny" }),
        "notes.txt": "not a template"
      })
      const catalog = yield* loadTemplates({ userDir: dir })
      expect(catalog.get("research-env")).toMatchObject({
        origin: "user",
        file: path.join(dir, "research-env.yaml"),
        template: { description: "stricter still", resources: { memory_mb: 128 } }
      })
      expect(catalog.get("tiny")?.origin).toBe("user")
      expect(catalog.get("python-dev")?.origin).toBe("builtin")
      expect(catalog.size).toBe(5)
    }))

  it.scoped("rejects a template whose name is not its file name, at the name line", () =>
    Effect.gen(function*() {
      const dir = yield* userDir({ "research.yaml": researchEnv() })
      const error = yield* Effect.flip(loadTemplates({ userDir: dir }))
      expect(error).toMatchObject({ _tag: "TemplateNameMismatch", name: "research-env", expected: "research", line: 2 })
      expect(error.message).toBe(
        `${path.join(dir, "research.yaml")}:2:1: name: 'research-env' does not match the file name; expected 'research'`
      )
    }))

  it.scoped("rejects an invalid user template naming file, line and field", () =>
    Effect.gen(function*() {
      const dir = yield* userDir({ "research-env.yaml": researchEnv({ memory: "-5" }) })
      const error = yield* Effect.flip(loadTemplates({ userDir: dir }))
      expect(error.message).toBe(
        `${path.join(dir, "research-env.yaml")}:8:3: resources.memory_mb: expected a positive integer, got -5`
      )
    }))

  it.scoped("fails when the built-in directory cannot be read", () =>
    Effect.gen(function*() {
      const dir = yield* userDir({})
      const error = yield* Effect.flip(loadTemplates({ userDir: dir, builtinDir: path.join(dir, "nowhere") }))
      expect(error._tag).toBe("TemplatesUnreadable")
    }))

  it.scoped("findTemplate returns the named template or lists the available names", () =>
    Effect.gen(function*() {
      const catalog = yield* loadTemplates({ userDir: yield* userDir({}) })
      expect(Either.map(findTemplate(catalog, "python-dev"), (found) => found.template.runner)).toEqual(Either.right("bwrap"))
      const missing = findTemplate(catalog, "pyhton-dev")
      expect(Either.isLeft(missing) && missing.left).toMatchObject({
        _tag: "TemplateNotFound",
        name: "pyhton-dev",
        available: ["nodejs-sandbox", "python-dev", "research-env", "shared-dev"],
        message: "no template named 'pyhton-dev'; available: nodejs-sandbox, python-dev, research-env, shared-dev"
      })
    }))
})
