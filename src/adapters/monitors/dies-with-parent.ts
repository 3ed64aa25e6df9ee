// A helper process a monitor starts (bpftrace, the netns listener) must not outlive the daemon. On a
// clean stop the monitor ends it; a daemon killed with SIGKILL runs nothing, and a tracer with nothing
// to print (the connect tracer of a sandbox that is gone) never hits the closed pipe that would end
// it. setpriv sets the parent-death signal before it execs the command, so the kernel kills the
// child with the daemon. Without setpriv the command runs as it is.
import { firstExecutable } from "../../runners/executables.js"

const setpriv = firstExecutable(["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"])

/**
 * `[file, args]` to spawn so that the child is SIGKILLed when this process dies. A path that cannot
 * be run is passed on as it is, so that spawning it fails as it would have (ENOENT, EACCES).
 */
export const diesWithParent = (file: string, args: ReadonlyArray<string>): readonly [string, ReadonlyArray<string>] =>
  setpriv === null || (file.includes("/") && firstExecutable([file]) === null) ? [file, args] : [setpriv, ["--pdeathsig", "KILL", "--", file, ...args]]
