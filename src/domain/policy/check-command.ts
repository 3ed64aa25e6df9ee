// A command line under a policy's command rules. The argv is looked through the usual wrappers
// (`env rm`, `busybox rm`, `nice -n 5 rm`, `find -exec rm`, `xargs rm`, `sh -c "rm …"`) and program
// paths are normalised (`/usr/bin/../bin/rm`), so each program that would run is checked by name and
// path. docs/policies.md lists what this catches and what it cannot (copies, interpreters, scripts).
import { Either } from "effect"
import { PolicyDenied } from "./policy-denied.js"
import type { EffectivePolicy } from "./resolve.js"
import { shellCommands, type ShellCommands } from "./shell-words.js"

export interface CommandAllowed {
  /** Every program the command line would run, as normalised paths, outermost first. */
  readonly programs: ReadonlyArray<string>
}

const shells = new Set(["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "yash", "rbash"])

/** Wrappers that run another program: options that take a value, and operands before the program. */
interface Wrapper {
  readonly valueOptions: ReadonlySet<string>
  readonly operandsBefore: number
}
const wrapper = (valueOptions: ReadonlyArray<string>, operandsBefore = 0): Wrapper => ({ valueOptions: new Set(valueOptions), operandsBefore })
const wrappers: ReadonlyMap<string, Wrapper> = new Map([
  ["env", wrapper(["-u", "--unset", "-C", "--chdir", "-S", "--split-string"])],
  ["busybox", wrapper([])],
  ["toybox", wrapper([])],
  ["sudo", wrapper(["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-R", "-T"])],
  ["doas", wrapper(["-u", "-C"])],
  ["nice", wrapper(["-n", "--adjustment"])],
  ["nohup", wrapper([])],
  ["setsid", wrapper([])],
  ["stdbuf", wrapper(["-i", "-o", "-e"])],
  ["timeout", wrapper(["-s", "--signal", "-k", "--kill-after"], 1)],
  ["time", wrapper(["-f", "--format", "-o", "--output"])],
  ["ionice", wrapper(["-c", "--class", "-n", "--classdata"])],
  ["taskset", wrapper([], 1)],
  ["chroot", wrapper(["--userspec", "--groups"], 1)],
  ["exec", wrapper(["-a"])],
  ["command", wrapper([])],
  ["builtin", wrapper([])],
  ["xargs", wrapper(["-I", "-n", "-P", "-L", "-d", "-E", "-s", "-a", "--max-args", "--max-procs", "--delimiter", "--arg-file"])],
  ["strace", wrapper(["-o", "-e", "-p", "-s", "-u", "-P", "-a", "-b", "-E", "-I", "-O", "-S", "-X"])],
  ["ltrace", wrapper(["-o", "-e", "-p", "-s", "-u", "-a", "-n", "-l"])],
  ["unbuffer", wrapper([])],
  ["nsenter", wrapper(["-t", "--target", "-S", "-G", "--setuid", "--setgid", "-w", "-r"])],
  ["unshare", wrapper(["--map-user", "--map-group", "--propagation", "--setgroups"])],
  ["flock", wrapper(["-w", "--timeout", "-E", "--conflict-exit-code"], 1)],
  ["watch", wrapper(["-n", "--interval", "-d", "--differences"])]
])

// Nesting deeper than this is refused rather than followed: no legitimate command needs it.
const MAX_DEPTH = 12

/** `/usr/bin/../bin/./rm` → `/usr/bin/rm`; relative paths keep no leading slash. */
export const normalizeProgram = (program: string): string => {
  const absolute = program.startsWith("/")
  const parts: Array<string> = []
  for (const part of program.split("/")) {
    if (part === "" || part === ".") continue
    if (part === "..") parts.pop()
    else parts.push(part)
  }
  return (absolute ? "/" : "") + parts.join("/")
}

export const basename = (program: string): string => program.slice(program.lastIndexOf("/") + 1)

type Found = { readonly _tag: "Programs"; readonly argvs: ReadonlyArray<ReadonlyArray<string>> } | { readonly _tag: "TooDeep" }

/** Every argv the command line would run: itself, then what its wrappers, `find -exec` and shells would run. */
export const invocations = (argv: ReadonlyArray<string>, depth = 0): Found => {
  if (depth > MAX_DEPTH) return { _tag: "TooDeep" }
  const [program] = argv
  if (program === undefined || program === "") return { _tag: "Programs", argvs: [] }
  const name = basename(normalizeProgram(program))
  const inner = innerCommands(name, argv.slice(1))
  if (inner.tooDeep) return { _tag: "TooDeep" }
  const found: Array<ReadonlyArray<string>> = [argv]
  for (const command of inner.commands) {
    const nested = invocations(command, depth + 1)
    if (nested._tag === "TooDeep") return nested
    found.push(...nested.argvs)
  }
  return { _tag: "Programs", argvs: found }
}

const none: ShellCommands = { commands: [], tooDeep: false }
const only = (commands: ReadonlyArray<ReadonlyArray<string>>): ShellCommands => ({ commands, tooDeep: false })

const innerCommands = (name: string, args: ReadonlyArray<string>): ShellCommands => {
  if (name === "find") return only(findExecs(args))
  if (shells.has(name)) {
    const script = shellCommandString(args)
    return script === undefined ? none : shellCommands(script)
  }
  const known = wrappers.get(name)
  if (known === undefined) return none
  return wrappedCommand(name, known, args)
}

const wrappedCommand = (name: string, known: Wrapper, args: ReadonlyArray<string>): ShellCommands => {
  let i = 0
  let operands = known.operandsBefore
  const split: Array<string> = []
  while (i < args.length) {
    const arg = args[i] ?? ""
    if (arg === "--") { i++; break }
    if (arg.startsWith("-") && arg !== "-") {
      const option = arg.includes("=") ? arg.slice(0, arg.indexOf("=")) : arg
      const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[i + 1]
      if (name === "env" && (option === "-S" || option === "--split-string") && value !== undefined) split.push(...value.trim().split(/\s+/))
      else if (name === "env" && arg.startsWith("-S") && !arg.startsWith("--")) split.push(...arg.slice(2).trim().split(/\s+/))
      if (name === "watch" || name === "flock") {
        if (option === "-c" || option === "--command") return value === undefined ? none : shellCommands(value)
      }
      i += known.valueOptions.has(option) && !arg.includes("=") ? 2 : 1
      continue
    }
    if (name === "env" && /^[A-Za-z_][A-Za-z0-9_]*=/.test(arg)) { i++; continue }
    if (operands > 0) { operands--; i++; continue }
    break
  }
  const rest = [...split, ...args.slice(i)]
  if (rest.length === 0) return none
  // `watch` joins its operands into one shell command string.
  if (name === "watch") return shellCommands(rest.join(" "))
  return only([rest])
}

const findExecs = (args: ReadonlyArray<string>): ReadonlyArray<ReadonlyArray<string>> => {
  const found: Array<ReadonlyArray<string>> = []
  for (let i = 0; i < args.length; i++) {
    if (["-exec", "-execdir", "-ok", "-okdir"].includes(args[i] ?? "")) {
      const end = args.findIndex((arg, j) => j > i && (arg === ";" || arg === "+"))
      found.push(args.slice(i + 1, end === -1 ? args.length : end))
      if (end !== -1) i = end
    }
  }
  return found
}

/** The command string a shell is given with `-c` (alone or in a cluster such as `-lc`), if any. */
const shellCommandString = (args: ReadonlyArray<string>): string | undefined => {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? ""
    if (arg === "--" || !arg.startsWith("-")) return undefined
    if (arg === "--command" || (/^-[A-Za-z]+$/.test(arg) && arg.includes("c"))) return args[i + 1] ?? ""
    if (arg === "-o" || arg === "+O" || arg === "-O") i++
  }
  return undefined
}

/** Whether a shell invocation runs a command string or reads commands from stdin (no script operand). */
const isUnrestrictedShell = (args: ReadonlyArray<string>): boolean => {
  if (shellCommandString(args) !== undefined) return true
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? ""
    if (arg === "--") return args[i + 1] === undefined
    if (arg === "-s" || (/^-[A-Za-z]+$/.test(arg) && arg.includes("s"))) return true
    if (arg === "-o" || arg === "+O" || arg === "-O") { i++; continue }
    if (!arg.startsWith("-") && !arg.startsWith("+")) return false
  }
  return true
}

const deny = (policy: EffectivePolicy, rule: string, reason: string) => Either.left(new PolicyDenied({ policy: policy.name, rule, reason }))

export const checkCommand = (policy: EffectivePolicy, argv: ReadonlyArray<string>): Either.Either<CommandAllowed, PolicyDenied> => {
  if (argv.length === 0 || argv[0] === "") return deny(policy, "commands", "an empty command line runs nothing known")
  const found = invocations(argv)
  if (found._tag === "TooDeep") return deny(policy, "commands", `commands nested more than ${MAX_DEPTH} deep (wrappers, shells, substitutions) are not followed`)
  const { blocked, blockedPatterns, restrictedShell } = policy.commands
  for (const command of found.argvs) {
    const program = normalizeProgram(command[0] ?? "")
    const name = basename(program)
    const index = blocked.findIndex((entry) =>
      entry.startsWith("/") ? normalizeProgram(entry) === program : name === entry || name.startsWith(`${entry}.`)
    )
    if (index !== -1) {
      const via = command === argv ? "" : ` (run through ${basename(normalizeProgram(argv[0] ?? ""))})`
      return deny(policy, `commands.blocked[${index}]`, `${program} is blocked (${blocked[index]})${via}`)
    }
    if (restrictedShell && shells.has(name) && isUnrestrictedShell(command.slice(1))) {
      return deny(policy, "commands.restricted_shell", `${name} with a command string or commands from stdin is not allowed under a restricted shell; run the program directly or a script file`)
    }
  }
  const lines = [argv, ...found.argvs].map((command) => command.join(" "))
  for (const [index, source] of blockedPatterns.entries()) {
    const pattern = new RegExp(source)
    if (lines.some((line) => pattern.test(line))) {
      return deny(policy, `commands.blocked_patterns[${index}]`, `the command line matches the blocked pattern /${source}/`)
    }
  }
  return Either.right({ programs: found.argvs.map((command) => normalizeProgram(command[0] ?? "")) })
}
