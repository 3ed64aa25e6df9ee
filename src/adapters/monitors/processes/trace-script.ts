// The bpftrace program of the process monitor, as text. It prints one line per fact, each from one
// `printf` (lines of one printf never interleave across CPUs):
//   R                                   all probes are attached (BEGIN runs after attaching)
//   E ts pid ppid uid level ns1 nr1 ns2 nr2 ns3 nr3 cgroup mm argLen   a successful exec
//   A pid mm offset hex                 argLen bytes of argv (NUL-separated) from `offset`, as \xNN
//   X ts pid level ns1 ns2 ns3 exitCode the last thread of a process ended
//   S id                                a sync marker: the monitor called getpriority(PRIO_PROCESS, SYNC_BASE + id)
// Only tasks outside the initial pid namespace are printed. `nsK`/`nrK` are the task's pid namespace
// and pid at nesting level K (1..3): a sandbox is matched by its namespace at its own level, which no
// process inside can leave and no host process can enter (setns only moves children). argv is read
// from the new program's memory at sched_process_exec: only successful execs, no enter/exit pairing.
// Why several probes: the BPF stack (512 bytes) holds one 200-byte buffer per printf at most.

/** bpftrace's string/buffer limit (BPFTRACE_STRLEN) in 0.17: 200 bytes. */
export const ARGV_CHUNK_BYTES = 200
/** How much of argv is captured; longer argv is recorded cut, with a marker. */
export const ARGV_CHUNKS = 10
export const ARGV_CAPTURE_BYTES = ARGV_CHUNK_BYTES * ARGV_CHUNKS
/** getpriority() on a pid this high (past PID_MAX_LIMIT, so it fails with ESRCH) prints a sync marker. */
export const SYNC_BASE = 1 << 30
/** Deepest sandbox pid namespace level matched (1 = a sandbox started from the initial namespace). */
export const MAX_LEVEL = 3

const inSandbox = "curtask->thread_pid->level > 0"
const upid = "$u = (struct upid *)((uint64)curtask->thread_pid + sizeof(struct pid));"

const levelFields = [1, 2, 3]
  .map((k) => `$l >= ${k} ? ($u + ${k})->ns->ns.inum : 0, $l >= ${k} ? ($u + ${k})->nr : 0`)
  .join(",\n    ")

const execProbe = `tracepoint:sched:sched_process_exec
/ ${inSandbox} /
{
  ${upid}
  $l = curtask->thread_pid->level;
  $m = curtask->mm;
  printf("E %llu %d %d %d %d %u %d %u %d %u %d %llu %llu %llu\\n", nsecs, pid, curtask->real_parent->tgid, uid, $l,
    ${levelFields},
    cgroup, (uint64)$m, $m->arg_end - $m->arg_start);
}`

const chunkProbe = (offset: number) => `tracepoint:sched:sched_process_exec
/ ${inSandbox} && curtask->mm->arg_end - curtask->mm->arg_start > ${offset} /
{
  $m = curtask->mm;
  $len = $m->arg_end - $m->arg_start;
  printf("A %d %llu ${offset} %rx\\n", pid, (uint64)$m,
    buf(uptr($m->arg_start + ${offset}), $len < ${offset + ARGV_CHUNK_BYTES} ? $len - ${offset} : ${ARGV_CHUNK_BYTES}));
}`

const exitProbe = `tracepoint:sched:sched_process_exit
/ ${inSandbox} && curtask->signal->live.counter == 0 /
{
  ${upid}
  $l = curtask->thread_pid->level;
  printf("X %llu %d %d %u %u %u %d\\n", nsecs, pid, $l, ($u + 1)->ns->ns.inum,
    $l >= 2 ? ($u + 2)->ns->ns.inum : 0, $l >= 3 ? ($u + 3)->ns->ns.inum : 0, curtask->exit_code);
}`

const syncProbe = `tracepoint:syscalls:sys_enter_getpriority
/ args->which == 0 && args->who >= ${SYNC_BASE} /
{
  printf("S %d\\n", args->who - ${SYNC_BASE});
}`

export const traceScript = (): string =>
  [
    `BEGIN { printf("R\\n"); }`,
    execProbe,
    ...Array.from({ length: ARGV_CHUNKS }, (_, i) => chunkProbe(i * ARGV_CHUNK_BYTES)),
    exitProbe,
    syncProbe
  ].join("\n") + "\n"
