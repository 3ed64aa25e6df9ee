// The seccomp profile every containerd sandbox gets: allow by default, deny a list of system calls an
// agent has no business making (kernel modules, mounts, namespaces, tracing, keyrings, BPF, clock and
// reboot), most of which its empty capability sets already refuse. Defence in depth, documented in
// docs/containerd.md. Names the running kernel's architecture lacks are skipped by runc.

export type SeccompArch = "SCMP_ARCH_X86_64" | "SCMP_ARCH_X86" | "SCMP_ARCH_X32" | "SCMP_ARCH_AARCH64" | "SCMP_ARCH_ARM"

export interface SeccompArg {
  readonly index: number
  readonly value: number
  readonly valueTwo: number
  readonly op: "SCMP_CMP_MASKED_EQ"
}

export interface SeccompRule {
  readonly names: ReadonlyArray<string>
  readonly action: "SCMP_ACT_ERRNO"
  readonly errnoRet: number
  readonly args?: ReadonlyArray<SeccompArg>
}

export interface SeccompProfile {
  readonly defaultAction: "SCMP_ACT_ALLOW"
  readonly architectures: ReadonlyArray<SeccompArch>
  readonly syscalls: ReadonlyArray<SeccompRule>
}

const EPERM = 1
const ENOSYS = 38

/** Denied with EPERM. */
export const DENIED_SYSCALLS: ReadonlyArray<string> = [
  // kernel and machine
  "acct", "create_module", "delete_module", "finit_module", "get_kernel_syms", "init_module", "query_module",
  "kexec_file_load", "kexec_load", "reboot", "swapoff", "swapon", "syslog", "uselib", "vhangup",
  "ioperm", "iopl", "vm86", "vm86old", "nfsservctl", "sysfs", "_sysctl", "ustat", "lookup_dcookie",
  // clocks
  "adjtimex", "clock_adjtime", "clock_settime", "settimeofday", "stime",
  // filesystems and mounts
  "mount", "umount", "umount2", "pivot_root", "mount_setattr", "move_mount", "open_tree",
  "fsconfig", "fsmount", "fsopen", "fspick", "quotactl", "quotactl_fd",
  "name_to_handle_at", "open_by_handle_at",
  // namespaces (clone's namespace flags are denied below)
  "setns", "unshare",
  // other processes' memory, tracing, profiling
  "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "perf_event_open",
  // kernel attack surface an agent does not need
  "bpf", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
  "add_key", "keyctl", "request_key"
]

/** clone flags that create namespaces; CLONE_NEWUSER is the one an unprivileged process could use. */
export const CLONE_NAMESPACE_FLAGS: Readonly<Record<string, number>> = {
  CLONE_NEWNS: 0x0002_0000,
  CLONE_NEWCGROUP: 0x0200_0000,
  CLONE_NEWUTS: 0x0400_0000,
  CLONE_NEWIPC: 0x0800_0000,
  CLONE_NEWUSER: 0x1000_0000,
  CLONE_NEWPID: 0x2000_0000,
  CLONE_NEWNET: 0x4000_0000
}

export const architecturesFor = (nodeArch: string): ReadonlyArray<SeccompArch> =>
  nodeArch === "arm64" ? ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"] : ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]

export const seccompProfile = (nodeArch: string): SeccompProfile => ({
  defaultAction: "SCMP_ACT_ALLOW",
  architectures: architecturesFor(nodeArch),
  syscalls: [
    { names: DENIED_SYSCALLS, action: "SCMP_ACT_ERRNO", errnoRet: EPERM },
    // clone3 passes its flags in memory seccomp cannot inspect: ENOSYS makes libc fall back to clone
    { names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS },
    ...Object.values(CLONE_NAMESPACE_FLAGS).map((flag): SeccompRule => ({
      names: ["clone"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: EPERM,
      args: [{ index: 0, value: flag, valueTwo: flag, op: "SCMP_CMP_MASKED_EQ" }]
    }))
  ]
})
