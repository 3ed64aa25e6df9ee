// Which OCI runtime the runc shim drives for a sandbox: crun where the host lets it run (it starts an
// exec in ~8 ms where runc needs ~23 ms), runc otherwise. Pure: host.ts gathers the facts, and the
// choice travels in Tasks.Create's options (mapping.ts).
import { Either, Schema } from "effect"
import * as path from "node:path"

/** `auto` picks crun when it is usable, else runc; `crun` and `runc` insist. */
export const RuntimeSetting = Schema.Literal("auto", "crun", "runc")
export type RuntimeSetting = Schema.Schema.Type<typeof RuntimeSetting>

export const RUNTIME_ENV = "HYDRAVISOR_CONTAINERD_RUNTIME"

export type OciRuntimeName = "crun" | "runc"

export interface OciRuntime {
  readonly name: OciRuntimeName
  /** Absolute path, sent to the shim as binary_name. */
  readonly binary: string
  /** Why this one, in a sentence (shown by `hydravisor doctor`). */
  readonly reason: string
}

export interface RuntimeFacts {
  /** Absolute paths; null when not installed. */
  readonly crun: string | null
  readonly runc: string | null
  /** On a hybrid host, the cgroup2 hierarchy and its own controllers; null on a pure cgroup v2 host. */
  readonly hybrid: { readonly unified: string; readonly controllers: ReadonlyArray<string> } | null
}

export interface RuntimeProblem {
  readonly missing: string
  readonly fix: string
}

const FORCE_RUNC = `Or use runc: start the daemon with ${RUNTIME_ENV}=runc.`

/** Moving a controller out of cgroup2 into its own v1 hierarchy beside the others (e.g. /sys/fs/cgroup/hugetlb). */
export const v1MountCommand = (unified: string, controller: string): string => {
  const dir = path.join(path.dirname(unified), controller)
  return `mkdir -p ${dir} && mount -t cgroup -o ${controller} cgroup ${dir}`
}

/** crun's path when it can run sandboxes here, else why not and how to fix it. */
export const usableCrun = (facts: RuntimeFacts): Either.Either<string, RuntimeProblem> => {
  if (facts.crun === null) return Either.left({ missing: "crun is not installed", fix: "Install it: `apt-get install -y crun`." })
  // crun 1.8 refuses a hybrid host whose cgroup2 hierarchy holds any controller
  if (facts.hybrid !== null && facts.hybrid.controllers.length > 0) {
    const { unified, controllers } = facts.hybrid
    const plural = controllers.length > 1
    return Either.left({
      missing: `crun refuses this hybrid cgroup host: the cgroup2 hierarchy at ${unified} holds the controller${plural ? "s" : ""} ${controllers.join(", ")}`,
      fix: `Move ${plural ? "them" : "it"} to cgroup v1: \`${controllers.map((c) => v1MountCommand(unified, c)).join(" && ")}\`.`
    })
  }
  return Either.right(facts.crun)
}

const runcMissing: RuntimeProblem = { missing: "runc is not installed", fix: "Install it: `apt-get install -y runc`." }

const layoutWords = (facts: RuntimeFacts): string =>
  facts.hybrid === null ? "a cgroup v2 host" : `a hybrid cgroup host whose cgroup2 hierarchy (${facts.hybrid.unified}) has no controllers`

export const chooseRuntime = (setting: RuntimeSetting, facts: RuntimeFacts): Either.Either<OciRuntime, RuntimeProblem> => {
  const crun = usableCrun(facts)
  switch (setting) {
    case "crun":
      return Either.match(crun, {
        onLeft: (problem) => Either.left({ missing: problem.missing, fix: `${problem.fix} ${FORCE_RUNC}` }),
        onRight: (binary) => Either.right({ name: "crun", binary, reason: `configured (runtime crun); ${layoutWords(facts)}` })
      })
    case "runc":
      return facts.runc === null ? Either.left(runcMissing) : Either.right({ name: "runc", binary: facts.runc, reason: "configured (runtime runc)" })
    case "auto":
      if (Either.isRight(crun)) return Either.right({ name: "crun", binary: crun.right, reason: `auto: crun is installed and runs on ${layoutWords(facts)}` })
      if (facts.runc === null) {
        return Either.left({ missing: `neither crun nor runc can run sandboxes (${crun.left.missing}; runc is not installed)`, fix: `${runcMissing.fix} Or for crun: ${crun.left.fix}` })
      }
      return Either.right({ name: "runc", binary: facts.runc, reason: `auto: ${crun.left.missing}; runc is the fallback` })
  }
}
