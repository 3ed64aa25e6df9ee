// A helper process a monitor starts (bpftrace, the netns listener) must not outlive the daemon. On a
// clean stop the monitor ends it; a daemon killed with SIGKILL runs nothing, and a tracer with nothing
// to print (the connect tracer of a sandbox that is gone) never hits the closed pipe that would end
// it. setpriv sets the parent-death signal before it execs the command, so the kernel kills the
// child with the daemon. Without setpriv the command runs as it is.
import * as fs from "node:fs"

const SETPRIV_PATHS = ["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"]

const executable = (file: string) => {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return true
  } catch {
    return false
  }
}

const setpriv = SETPRIV_PATHS.find(executable)

/**
 * `[file, args]` to spawn so that the child is SIGKILLed when this process dies. A path that cannot
 * be run is passed on as it is, so that spawning it fails as it would have (ENOENT, EACCES).
 */
export const diesWithParent = (file: string, args: ReadonlyArray<string>): readonly [string, ReadonlyArray<string>] =>
  setpriv === undefined || (file.includes("/") && !executable(file)) ? [file, args] : [setpriv, ["--pdeathsig", "KILL", "--", file, ...args]]
