// The host-side launcher every bwrap process and exec starts as: /bin/sh limits open files when the
// sandbox has a limit, joins the given cgroups (so nothing runs outside them) and execs the rest.
// An exec's launcher also has fd 3, a channel to the spawner helper that nothing it execs inherits:
// it reports there why it gave up (a byte no command can forge, unlike an exit status and stderr),
// and in its gated form says it is ready there and waits for its go.

/** What an exec's launcher writes on fd 3 when it gives up, before it exits 125. */
export const LAUNCHER_REPORTS = { c: "cgroup", l: "open-files" } as const
export type LauncherFailure = (typeof LAUNCHER_REPORTS)[keyof typeof LAUNCHER_REPORTS]

const giveUp = (message: string, report: keyof typeof LAUNCHER_REPORTS, onFd3: boolean) =>
  `{ echo "hydravisor-launcher: ${message}" >&2; ${onFd3 ? `printf ${report} >&3; ` : ""}exit 125; }`
/**
 * Writes the shell's own pid (`$$` at the top level of `sh -c` is the shell itself, which the final
 * exec turns into the command) into each cgroup.procs given.
 */
const joinCgroups = (onFd3: boolean) =>
  `n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || ${giveUp("cannot join cgroup $1", "c", onFd3)}; shift; n=$((n-1)); done; `
/** Sets RLIMIT_NOFILE (soft and hard: nothing started after can raise it) unless given "-". */
const limitFiles = (onFd3: boolean) =>
  `f=$1; shift; [ "$f" = - ] || ulimit -n "$f" 2>/dev/null || ${giveUp("cannot limit open files to $f", "l", onFd3)}; `

/** bwrap's launcher (fd 3 and up are bwrap's own: it reports nothing there). */
export const LAUNCHER_SCRIPT = `${limitFiles(false)}${joinCgroups(false)}exec "$@"`
/** An exec's launcher: reports a failure on fd 3 and closes it before the command. */
export const EXEC_LAUNCHER_SCRIPT = `${limitFiles(true)}${joinCgroups(true)}exec 3>&-; exec "$@"`
/**
 * The gated exec launcher: says it is ready on fd 3 and waits there for a line before anything of
 * the command runs (the exec's start is made durable and its cgroup created meanwhile), then goes on
 * as the exec launcher.
 */
export const GATED_LAUNCHER_SCRIPT = `printf r >&3; read -r _ <&3 || { echo "hydravisor-launcher: the gate closed without a go" >&2; exit 125; }; ${limitFiles(true)}${joinCgroups(true)}exec 3>&-; exec "$@"`

/**
 * `fileHandles`: RLIMIT_NOFILE, soft and hard, for the command and all it starts (unchanged when
 * absent). `fd3`: absent for bwrap's launch; "report" or "gate" for an exec (see above).
 */
export const launcherArgs = (
  procsFiles: ReadonlyArray<string>,
  command: ReadonlyArray<string>,
  options: { readonly fd3?: "report" | "gate" | undefined; readonly fileHandles?: number | undefined } = {}
): ReadonlyArray<string> => [
  "-c",
  options.fd3 === "gate" ? GATED_LAUNCHER_SCRIPT : options.fd3 === "report" ? EXEC_LAUNCHER_SCRIPT : LAUNCHER_SCRIPT,
  "hydravisor-launcher",
  options.fileHandles === undefined ? "-" : String(options.fileHandles),
  String(procsFiles.length),
  ...procsFiles,
  ...command
]

/** Why an exec's launcher gave up, from what it wrote on fd 3 (null: it did not). */
export const launcherFailure = (reported: string): LauncherFailure | null => {
  for (const ch of reported) if (Object.hasOwn(LAUNCHER_REPORTS, ch)) return LAUNCHER_REPORTS[ch as keyof typeof LAUNCHER_REPORTS]
  return null
}
