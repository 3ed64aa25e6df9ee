// `disk_gb`, kept by what the file monitor records: the size of every workspace file as its last
// FileChanged says (deleted and renamed-away paths drop out), summed. Pure: the enforcement engine
// folds each observation in and asks whether the sum is over the sandbox's limit. Sizes are binary
// (1 GB = 2^30 bytes), as the quotas'. What the file monitor does not see is not counted
// (docs/policies.md).
import type { Finding, Observation } from "./observation-rules.js"

const GB = 2 ** 30

export interface WorkspaceSize {
  readonly files: Map<string, number>
  total: number
  /** Over the limit since the last finding (reported once until the workspace is back under it). */
  over: boolean
}

export const emptyWorkspaceSize = (): WorkspaceSize => ({ files: new Map(), total: 0, over: false })

const remove = (w: WorkspaceSize, path: string) => {
  const size = w.files.get(path)
  if (size === undefined) return
  w.total -= size
  w.files.delete(path)
}

/** Folds one observation in; anything but a FileChanged leaves the books as they are. */
export const applyFileChange = (w: WorkspaceSize, observation: Observation): void => {
  if (observation.type !== "FileChanged") return
  const { path, change, previousPath, size } = observation.data
  if (typeof path !== "string") return
  if (change === "renamed" && typeof previousPath === "string") remove(w, previousPath)
  remove(w, path)
  if (change !== "deleted" && typeof size === "number" && size >= 0) {
    w.files.set(path, size)
    w.total += size
  }
}

/**
 * Whether the workspace is over `limitGb` now (kept in `over`), and the finding when it has just gone
 * over: one per crossing, so a workspace that stays over is not reported at every write.
 */
export const checkDiskLimit = (w: WorkspaceSize, limitGb: number | undefined, observation: Observation): Finding | null => {
  if (limitGb === undefined) return null
  const limit = limitGb * GB
  if (w.total <= limit) {
    w.over = false
    return null
  }
  if (w.over) return null
  w.over = true
  return {
    kind: "resource-limit",
    rule: "resources.limits.disk_gb",
    detail: `the workspace holds ${(w.total / GB).toFixed(6)} GB of files, over the limit of ${limitGb} GB`,
    evidence: [observation.id],
    pid: null,
    once: null
  }
}
