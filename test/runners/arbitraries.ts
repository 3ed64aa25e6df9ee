// Arbitraries for runner data: bwrap plans, sandbox ids, exec requests. (Kept beside the runner tests
// because this work may only touch test/runners/; they can move to test/arbitraries/ unchanged.)
import fc from "fast-check"
import type { BwrapPlan, MountOp, Namespace } from "../../src/runners/bwrap/mapping.js"

/** Any argument a command line can carry: no NUL. */
export const arg = (minLength = 0): fc.Arbitrary<string> =>
  fc.string({ unit: "grapheme", minLength, maxLength: 24 }).filter((s) => !s.includes("\0"))

export const hostPath = arg(1).map((s) => `/${s}`)

export const sandboxId = fc.stringMatching(/^[a-z0-9-]{1,64}$/)

const namespace: fc.Arbitrary<Namespace> = fc.constantFrom("user", "pid", "ipc", "uts", "net", "cgroup-try")

export const mountOp: fc.Arbitrary<MountOp> = fc.oneof(
  fc.record({ kind: fc.constantFrom("bind" as const, "ro-bind" as const, "ro-bind-try" as const), source: hostPath, dest: hostPath }),
  fc.record({ kind: fc.constant("symlink" as const), target: arg(1), dest: hostPath }),
  fc.record({ kind: fc.constantFrom("proc" as const, "dev" as const), dest: hostPath }),
  fc.record({ kind: fc.constant("tmpfs" as const), dest: hostPath, perms: fc.option(fc.stringMatching(/^[0-7]{3,4}$/), { nil: null }) })
)

export const bwrapPlan: fc.Arbitrary<BwrapPlan> = fc.record({
  unshare: fc.uniqueArray(namespace),
  dieWithParent: fc.boolean(),
  newSession: fc.boolean(),
  capDropAll: fc.boolean(),
  clearEnv: fc.boolean(),
  hostname: arg(),
  uid: fc.nat(),
  gid: fc.nat(),
  mounts: fc.array(mountOp, { maxLength: 12 }),
  chdir: hostPath,
  infoFd: fc.nat({ max: 1000 }),
  userNsBlockFd: fc.nat({ max: 1000 }),
  command: fc.array(arg(), { minLength: 1, maxLength: 6 })
})

export const envName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_ .-]{0,15}$/)

export const env = fc.dictionary(envName, arg(), { maxKeys: 6 })

export const argv = fc.tuple(arg(1).filter((s) => !s.includes("=")), fc.array(arg(), { maxLength: 6 })).map(([program, rest]) => [program, ...rest])
