// Paths as the ledger records them: relative to the sandbox's workspace, '/'-separated, never
// escaping it. A path that is not inside the workspace has no name here (null).
import * as path from "node:path"

/** `abs` relative to `workspaceDir` ('/'-separated), "" for the workspace itself, null when outside. */
export const workspaceRelative = (workspaceDir: string, abs: string): string | null => {
  const rel = path.relative(path.resolve(workspaceDir), path.resolve(workspaceDir, abs))
  if (rel === "") return ""
  if (rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return null
  return rel.split(path.sep).join("/")
}

/** The host path of a workspace-relative path. */
export const hostPath = (workspaceDir: string, rel: string): string => (rel === "" ? workspaceDir : path.join(workspaceDir, ...rel.split("/")))

/** Directories are recorded with a trailing '/', so `a` (a file) and `a/` (a directory) never collide. */
export const directoryKey = (rel: string): string => (rel.endsWith("/") ? rel : `${rel}/`)
