// Finding a host program: the first of some paths that this process may execute. One place for the
// runners' host probes, the image builder and the monitors' helpers.
import * as fs from "node:fs"
import * as path from "node:path"

const executable = (file: string): boolean => {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The first of `candidates` that can be executed, else null. */
export const firstExecutable = (candidates: ReadonlyArray<string>): string | null => candidates.find(executable) ?? null

/** `name` in the first of `dirs` that holds it executable, else null. */
export const findInDirs = (name: string, dirs: ReadonlyArray<string>): string | null => firstExecutable(dirs.map((dir) => path.join(dir, name)))
