// The host-side launcher every bwrap process and exec starts as: /bin/sh limits open files when the
// sandbox has a limit, joins the given cgroups (so nothing runs outside them) and execs the rest; the
// gated form first waits for its go on fd 3.

/**
 * Run by the host's /bin/sh: writes its own pid (`$$` at the top level of `sh -c` is the shell itself,
 * which the final exec turns into the command) into each cgroup.procs given, then execs the rest.
 */
const JOIN_CGROUPS = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || { echo "hydravisor-launcher: cannot join cgroup $1" >&2; exit 125; }; shift; n=$((n-1)); done; '
/** Sets RLIMIT_NOFILE (soft and hard: nothing started after can raise it) unless given "-". */
const LIMIT_FILES = 'f=$1; shift; [ "$f" = - ] || ulimit -n "$f" 2>/dev/null || { echo "hydravisor-launcher: cannot limit open files to $f" >&2; exit 125; }; '
export const LAUNCHER_SCRIPT = `${LIMIT_FILES}${JOIN_CGROUPS}exec "$@"`
/**
 * The gated launcher: says it is ready on fd 3 and waits there for a line before anything of the
 * command runs (the exec's start is made durable and its cgroup created meanwhile), closes fd 3,
 * then joins the cgroups.
 */
export const GATED_LAUNCHER_SCRIPT = `printf r >&3; read -r _ <&3 || { echo "hydravisor-launcher: the gate closed without a go" >&2; exit 125; }; exec 3<&-; ${LIMIT_FILES}${JOIN_CGROUPS}exec "$@"`
export const LAUNCHER_FAILURE_PREFIX = "hydravisor-launcher:"

/** `fileHandles`: RLIMIT_NOFILE, soft and hard, for the command and all it starts (unchanged when absent). */
export const launcherArgs = (
  procsFiles: ReadonlyArray<string>,
  command: ReadonlyArray<string>,
  options: { readonly gated?: boolean; readonly fileHandles?: number | undefined } = {}
): ReadonlyArray<string> => [
  "-c",
  options.gated === true ? GATED_LAUNCHER_SCRIPT : LAUNCHER_SCRIPT,
  "hydravisor-launcher",
  options.fileHandles === undefined ? "-" : String(options.fileHandles),
  String(procsFiles.length),
  ...procsFiles,
  ...command
]
