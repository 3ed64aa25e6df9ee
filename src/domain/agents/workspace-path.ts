// A path an agent gives for a file in its sandbox, checked before anything touches the disk: relative
// to /workspace or absolute under it, no NUL byte, and never above the workspace once `.` and `..`
// are applied. The result is a list of plain names; symlinks are the adapter's to check.
import { Data, Either } from "effect"

export class PathRefused extends Data.TaggedError("PathRefused")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `path ${JSON.stringify(this.path.length > 200 ? `${this.path.slice(0, 200)}…` : this.path)} refused: ${this.reason}`
  }
}

export const WORKSPACE = "/workspace"
export const MAX_PATH_LENGTH = 4096
const MAX_NAME_BYTES = 255

/** Names from the workspace root down; [] is the workspace itself. */
export type WorkspacePath = ReadonlyArray<string>

export const parseWorkspacePath = (path: string): Either.Either<WorkspacePath, PathRefused> => {
  const refuse = (reason: string) => Either.left(new PathRefused({ path, reason }))
  if (path.includes("\0")) return refuse("it contains a NUL byte")
  if (path.length > MAX_PATH_LENGTH) return refuse(`it is longer than ${MAX_PATH_LENGTH} characters`)
  let rest = path
  if (path.startsWith("/")) {
    if (path !== WORKSPACE && !path.startsWith(`${WORKSPACE}/`)) return refuse("absolute paths must be under /workspace")
    rest = path.slice(WORKSPACE.length)
  }
  const names: Array<string> = []
  for (const name of rest.split("/")) {
    if (name === "" || name === ".") continue
    if (name === "..") {
      if (names.length === 0) return refuse("it leads out of the workspace")
      names.pop()
      continue
    }
    if (Buffer.byteLength(name, "utf8") > MAX_NAME_BYTES) return refuse(`a name in it is longer than ${MAX_NAME_BYTES} bytes`)
    names.push(name)
  }
  return Either.right(names)
}

/** How a workspace path is shown back to the agent: relative, `.` for the root. */
export const showWorkspacePath = (path: WorkspacePath): string => (path.length === 0 ? "." : path.join("/"))
