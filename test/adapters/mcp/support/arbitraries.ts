// fast-check arbitraries for MCP tool calls: mostly well-shaped arguments with hostile values, plus
// wrong types, missing and unknown fields. Commands are drawn from a harmless set so that a valid
// exec only ever runs something short.
import fc from "fast-check"

export interface Env {
  readonly id: string
  readonly name: string
}

const huge = "x".repeat(2 * 1024 * 1024)

const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.constantFrom("", "\u0000", "a\u0000b", huge, "..", "/", "ü", "\n", "$(id)", "`id`", "'; rm -rf /")
)

export const hostilePath = fc.oneof(
  fc.constantFrom(
    "../etc/passwd", "../../../../etc/shadow", "/etc/passwd", "/workspace/../etc/passwd", "/workspace", "/workspace/", ".", "",
    "etc-link/passwd", "up/data", "up", "inside", "inside/../../x", "d/../../x", "a\u0000b", "/proc/self/root/etc/passwd", "//workspace/x",
    "d/new.txt", "new.txt", "d/e/f/g.txt", huge
  ),
  fc.array(fc.constantFrom("..", ".", "d", "up", "etc-link", "inside", "x", "", "\u0000"), { maxLength: 8 }).map((parts) => parts.join("/")),
  fc.string()
)

const hex16 = fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 16, maxLength: 16 })

const junk = fc.oneof(fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }))

const environmentRef = (own: () => Env, other: () => Env) =>
  fc.oneof(
    fc.constant(null).map(() => own().id),
    fc.constant(null).map(() => own().name),
    fc.constant(null).map(() => other().id),
    fc.constant(null).map(() => other().name),
    hex16,
    hostileString
  )

const harmlessArgv = fc.oneof(
  fc.constantFrom(["true"], ["false"], ["echo", "hi"], ["ls", "-la"], ["cat", "/etc/hostname"], ["pwd"], ["sh", "-c", "exit 7"], ["no-such-program"], ["id"]),
  fc.tuple(fc.constantFrom("echo", "cat", "ls", "test"), fc.array(hostileString.filter((s) => s.length < 4096), { maxLength: 4 })).map(([p, rest]) => [p, ...rest]),
  fc.constant([]),
  fc.array(fc.constantFrom("a\u0000b", ""), { minLength: 1, maxLength: 2 })
)

/** A field's value: usually of the right shape, sometimes junk, sometimes left out. */
const field = <A>(arb: fc.Arbitrary<A>) => fc.option(fc.oneof({ weight: 4, arbitrary: arb as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: junk }), { nil: undefined, freq: 5 })

/** Arguments with the right fields: the required ones always, optional ones sometimes, nothing else. */
const typed = (required: Record<string, fc.Arbitrary<unknown>>, optional: Record<string, fc.Arbitrary<unknown>>) =>
  fc.record({ ...required, ...optional }, { requiredKeys: Object.keys(required) }) as fc.Arbitrary<Record<string, unknown>>

/** Arguments that may have junk values, missing fields and unknown ones. */
const malformed = (fields: Record<string, fc.Arbitrary<unknown>>) =>
  fc.tuple(fc.record(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, field(v)]))), fc.option(fc.dictionary(fc.string({ maxLength: 8 }), junk, { maxKeys: 2 }), { freq: 5 })).map(
    ([known, extra]) => {
      const args: Record<string, unknown> = {}
      for (const [k, v] of Object.entries(known)) if (v !== undefined) args[k] = v
      return extra === null ? args : { ...extra, ...args }
    }
  )

const shaped = (required: Record<string, fc.Arbitrary<unknown>>, optional: Record<string, fc.Arbitrary<unknown>> = {}) =>
  fc.oneof({ weight: 3, arbitrary: typed(required, optional) }, { weight: 1, arbitrary: malformed({ ...required, ...optional }) })

export const toolArguments = (own: () => Env, other: () => Env) => {
  const environment = environmentRef(own, other)
  // Releasing or rolling back the environment under test would end the fuzz early; those get other targets.
  const foreign = fc.oneof(fc.constant(null).map(() => other().id), hex16, hostileString)
  const text = hostileString.filter((t) => t.length <= 4096)
  const calls: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
    request_environment: shaped({ template: fc.constantFrom("research-env", "no-such", "../x", ""), name: fc.oneof(fc.constant(null).map(() => own().name), text) }, { policy: text }),
    list_environments: shaped({}, { include_released: fc.boolean() }),
    describe_environment: shaped({ environment }),
    exec: shaped({ environment, argv: harmlessArgv }, { cwd: hostilePath, timeout_seconds: fc.constantFrom(5, 0.5, 0, -1, 1e9), stdin: text }),
    read_file: shaped({ environment, path: hostilePath }, { encoding: fc.constantFrom("utf8", "base64", "latin1"), max_bytes: fc.constantFrom(1, 10, 0, 1e12) }),
    write_file: shaped({ environment, path: hostilePath, content: hostileString }, { encoding: fc.constantFrom("utf8", "base64"), create_parents: fc.boolean() }),
    list_files: shaped({ environment }, { path: hostilePath, recursive: fc.boolean(), max_entries: fc.constantFrom(1, 5, 0, 100000) }),
    snapshot: shaped({ environment }),
    rollback: shaped({ environment: foreign, snapshot_id: fc.oneof(fc.constant("snap-000000000000"), text) }),
    release_environment: shaped({ environment: foreign }),
    get_audit_trail: shaped({ environment }, { limit: fc.constantFrom(1, 10, 0, 1e9), types: fc.array(fc.constantFrom("ToolCalled", "x", "CommandExecuted"), { maxLength: 3 }) }),
    environment_diff: shaped({ environment }, { include_diffs: fc.boolean() }),
    environment_log: shaped({ environment }, { limit: fc.constantFrom(1, 3, 0) }),
    not_a_tool: shaped({ environment })
  }
  return fc.oneof(...Object.entries(calls).map(([tool, args]) => args.map((a) => ({ tool, args: a }))))
}
