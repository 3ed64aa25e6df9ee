// Between the Sandbox aggregate and the runner port: where a sandbox lives under the data dir, the
// runner's spec from a launch, the persisted handle read back, and which runner failures mean the
// sandbox is gone.
import * as path from "node:path"
import { Either, Schema } from "effect"
import type { RunnerError } from "../../runners/errors.js"
import { imagesDir, templateRecipe } from "../../runners/images/image-store.js"
import { recipeHash } from "../../runners/images/recipe.js"
import { decodeOncePerObject } from "../../runners/handle-state.js"
import { SandboxHandle, type SandboxSpec } from "../../runners/runner.js"
import type { RunnerHandle } from "../../domain/sandbox/sandbox-events.js"
import type { Sandbox } from "../../domain/sandbox/sandbox.js"
import { imagePackages } from "../../domain/sandbox/template.js"

export interface SandboxDirs {
  readonly root: string
  readonly workspace: string
  readonly state: string
}

export const sandboxDirs = (dataDir: string, sandboxId: string): SandboxDirs => {
  const root = path.join(dataDir, "sandboxes", sandboxId)
  return { root, workspace: path.join(root, "workspace"), state: path.join(root, "state") }
}

/** Where `hydravisor image build <template>` puts a template's root filesystem: named by its recipe's hash. */
export const imageRootfs = (dataDir: string, packages: ReadonlyArray<string>): string =>
  Either.match(templateRecipe(packages), {
    onLeft: () => path.join(imagesDir(dataDir), "unbuildable", "rootfs"),
    onRight: (recipe) => path.join(imagesDir(dataDir), recipeHash(recipe), "rootfs")
  })

/** The runner's spec for a requested sandbox; `env` is the launch's, on top of the template's. */
export const sandboxSpec = (dataDir: string, sandbox: Sandbox, env: Readonly<Record<string, string>>): SandboxSpec => {
  const dirs = sandboxDirs(dataDir, sandbox.sandboxId)
  const { template, resources } = sandbox
  return {
    id: sandbox.sandboxId,
    hostname: sandbox.name,
    workspaceDir: dirs.workspace,
    stateDir: dirs.state,
    rootfs: template.rootfs.kind === "host" ? { kind: "host" } : { kind: "image", path: imageRootfs(dataDir, imagePackages(template)) },
    resources: {
      cpuCores: resources.cpu_cores,
      memoryMb: resources.memory_mb,
      pids: resources.pids,
      ...(resources.file_handles !== undefined ? { fileHandles: resources.file_handles } : {})
    },
    network: sandbox.network.mode,
    env: { ...template.env, ...env },
    runner: template.runner
  }
}

export const toRunnerHandle = (handle: SandboxHandle): RunnerHandle => ({ ...handle })

const decodeHandle = decodeOncePerObject(SandboxHandle)

/** The handle the ledger holds, if it is one the runner port can take. */
export const fromRunnerHandle = (handle: RunnerHandle | null): SandboxHandle | null =>
  handle === null ? null : Either.getOrNull(decodeHandle(handle))

/** Failures that mean the sandbox no longer exists as the ledger believes (vanished, or stopped behind our back). */
export const meansGone = (error: RunnerError): boolean =>
  error._tag === "SandboxGone" || error._tag === "InvalidHandle" || (error._tag === "SandboxStateConflict" && error.state === "stopped")
