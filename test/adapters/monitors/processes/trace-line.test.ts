// The tracer's line parser and the pure steps after it: strict about every field, total (any input
// gives a value, never an exception), argv recovered byte-exact from the hex chunks in any order, and
// exits that arrive before their exec still paired.
import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import fc from "fast-check"
import { makeExecAssembly } from "../../../../src/adapters/monitors/processes/exec-assembly.js"
import { makeProcessTracker } from "../../../../src/adapters/monitors/processes/process-tracker.js"
import { ARGV_CAPTURE_BYTES, ARGV_CHUNK_BYTES } from "../../../../src/adapters/monitors/processes/trace-script.js"
import { argvFromBytes, exitOutcome, parseTraceLine, type TraceLine } from "../../../../src/adapters/monitors/processes/trace-line.js"

const hex = (bytes: Uint8Array) => [...bytes].map((b) => `\\x${b.toString(16).padStart(2, "0")}`).join("")
const argvBytes = (argv: ReadonlyArray<string>) => Buffer.concat(argv.map((a) => Buffer.from(`${a}\0`, "utf8")))

const execFields = fc.record({
  ts: fc.nat({ max: Number.MAX_SAFE_INTEGER }), pid: fc.integer({ min: 1, max: 4_194_304 }), ppid: fc.nat({ max: 4_194_304 }),
  uid: fc.nat({ max: 0xffffffff }), level: fc.integer({ min: 1, max: 3 }),
  ns: fc.array(fc.nat({ max: 0xffffffff }), { minLength: 3, maxLength: 3 }), nr: fc.array(fc.nat({ max: 4_194_304 }), { minLength: 3, maxLength: 3 }),
  cgroup: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), mm: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), argLength: fc.nat({ max: 100_000 })
})
type ExecFields = typeof execFields extends fc.Arbitrary<infer A> ? A : never
const execLine = (f: ExecFields) =>
  `E ${f.ts} ${f.pid} ${f.ppid} ${f.uid} ${f.level} ${f.ns[0]} ${f.nr[0]} ${f.ns[1]} ${f.nr[1]} ${f.ns[2]} ${f.nr[2]} ${f.cgroup} ${f.mm} ${f.argLength}`

/** The lines the script prints for one exec of `argv`. */
const linesFor = (pid: number, mm: string, argv: ReadonlyArray<string>, ts = 1000): Array<string> => {
  const bytes = argvBytes(argv)
  const lines = [`E ${ts} ${pid} 1 1000 1 4026532178 7 0 0 0 0 42 ${mm} ${bytes.length}`]
  for (let offset = 0; offset < Math.min(bytes.length, ARGV_CAPTURE_BYTES); offset += ARGV_CHUNK_BYTES) {
    lines.push(`A ${pid} ${mm} ${offset} ${hex(bytes.subarray(offset, Math.min(offset + ARGV_CHUNK_BYTES, bytes.length)))}`)
  }
  return lines
}

const parsed = (line: string): TraceLine => Either.getOrThrow(parseTraceLine(line))
const argvArb = fc.array(fc.string({ unit: "binary", maxLength: 300 }).filter((s) => !s.includes("\0")), { minLength: 1, maxLength: 12 })

describe("parseTraceLine", () => {
  it("never throws, whatever the line", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 400 }), (line) => {
      expect(Either.isEither(parseTraceLine(line))).toBe(true)
    }), { numRuns: 2000 })
  })

  it("reads every field of an exec line exactly", () => {
    fc.assert(fc.property(execFields, (f) => {
      expect(parsed(execLine(f))).toEqual({
        kind: "exec", ts: f.ts, pid: f.pid, ppid: f.ppid, uid: f.uid, level: f.level,
        levels: f.ns.map((namespace, i) => ({ namespace, pid: f.nr[i] })), cgroupId: String(f.cgroup), mm: String(f.mm), argLength: f.argLength
      })
    }))
  })

  it("rejects an exec line with a field missing, added, or out of range", () => {
    fc.assert(fc.property(execFields, fc.nat(), (f, cut) => {
      const fields = execLine(f).split(" ")
      const without = fields.filter((_, i) => i !== 1 + (cut % (fields.length - 1)))
      expect(Either.isLeft(parseTraceLine(without.join(" ")))).toBe(true)
      expect(Either.isLeft(parseTraceLine(`${execLine(f)} 1`))).toBe(true)
      expect(Either.isLeft(parseTraceLine(execLine({ ...f, cgroup: 2n ** 64n })))).toBe(true)
      expect(Either.isLeft(parseTraceLine(execLine({ ...f, level: 0 })))).toBe(true)
    }))
  })

  it("rejects lines cut short or with a stray character, as bpftrace output torn mid-line would be", () => {
    fc.assert(fc.property(execFields, fc.nat(), fc.constantFrom(" ", "x", "-", "\\", "\n"), (f, at, stray) => {
      const line = execLine(f)
      const i = 1 + (at % (line.length - 1))
      const mangled = `${line.slice(0, i)}${stray}${line.slice(i)}`
      const result = parseTraceLine(mangled)
      if (Either.isRight(result)) expect(result.right.kind).toBe("exec")
      expect(Either.isLeft(parseTraceLine(line.slice(0, line.lastIndexOf(" "))))).toBe(true)
    }))
  })

  it("decodes argv chunks byte-exact, including bytes that look like escapes", () => {
    fc.assert(fc.property(argvArb, (argv) => {
      const bytes = argvBytes(argv)
      const line = parsed(`A 9 77 0 ${hex(bytes)}`)
      expect(line.kind === "argv" && argvFromBytes(line.bytes, bytes.length)).toEqual(argv.map((a) => Buffer.from(a, "utf8").toString("utf8")))
    }))
    expect(argvFromBytes(argvBytes(["tr", "\\x00", "y"]), 10)).toEqual(["tr", "\\x00", "y"])
  })

  it("reads exit, lost, sync and ready lines, and the kernel's wait status", () => {
    expect(parsed("X 5 10 2 4026532178 4026532179 0 1792")).toEqual({ kind: "exit", ts: 5, pid: 10, level: 2, namespaces: [4026532178, 4026532179, 0], status: 1792 })
    expect(parsed("Lost 12 events")).toEqual({ kind: "lost", count: 12 })
    expect(parsed("S 3")).toEqual({ kind: "sync", id: 3 })
    expect(parsed("R")).toEqual({ kind: "ready" })
    expect(Either.isLeft(parseTraceLine("Lost -1 events"))).toBe(true)
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 31 }), (code, signal) => {
      expect(exitOutcome(code << 8)).toEqual({ exitCode: code, signal: null })
      expect(exitOutcome(signal)).toEqual({ exitCode: null, signal })
      expect(exitOutcome(signal | 0x80)).toEqual({ exitCode: null, signal })
    }))
  })
})

describe("exec assembly", () => {
  it("joins an exec with its argv chunks whatever their order", () => {
    fc.assert(fc.property(argvArb, fc.integer({ min: 1, max: 4_000_000 }), fc.infiniteStream(fc.nat()), (argv, pid, order) => {
      const lines = linesFor(pid, "99", argv)
      const shuffled = lines.map((line) => [order.next().value, line] as const).sort((a, b) => a[0] - b[0]).map(([, line]) => line)
      const assembly = makeExecAssembly()
      const done = shuffled.flatMap((line) => {
        const l = parsed(line)
        return l.kind === "exec" || l.kind === "argv" ? assembly.add(l) : []
      })
      const bytes = argvBytes(argv)
      expect(done).toHaveLength(1)
      expect(done[0]!.argv).toEqual(argvFromBytes(bytes.subarray(0, ARGV_CAPTURE_BYTES), bytes.length))
      expect(assembly.pending()).toBe(0)
    }))
  })

  it("releases an exec whose chunks were lost, its argv marked cut", () => {
    const assembly = makeExecAssembly(1_000)
    const [exec, first] = linesFor(5, "1", ["a".repeat(250)])
    for (const line of [exec!, first!]) {
      const l = parsed(line)
      if (l.kind === "exec" || l.kind === "argv") expect(assembly.add(l)).toEqual([])
    }
    const { released } = assembly.expire(1000 + 1_000)
    expect(released[0]!.argv).toEqual(["a".repeat(200), "…[argv cut: 200 of 251 bytes recorded]"])
  })
})

describe("process tracker", () => {
  const clock = { iso: (ns: number) => new Date(ns / 1e6).toISOString() }
  const exec = { ts: 1_000_000, pid: 40, ppid: 1, uid: 7, level: 1, levels: [], cgroupId: "3", argv: ["x"] }

  it("pairs an exit that arrived before its exec, and ignores exits of processes never seen to exec", () => {
    const tracker = makeProcessTracker("s-1", clock)
    expect(tracker.exit({ ts: 3_000_000, pid: 40, status: 7 << 8 })).toEqual([])
    const events = tracker.exec(exec, 2, null)
    expect(events.map((e) => e.type)).toEqual(["ProcessStarted", "ProcessExited"])
    expect(events[1]!.data).toEqual({ sandboxId: "s-1", pid: 40, exitCode: 7, signal: null, durationMs: 2 })
    expect(tracker.exit({ ts: 9_000_000, pid: 41, status: 0 })).toEqual([])
    tracker.expire(9_000_000 + 3e9)
    expect(tracker.exec({ ...exec, pid: 41, ts: 8_000_000 }, 3, null)).toHaveLength(1)
  })

  it("times a process from its first exec, however many execs it makes", () => {
    const tracker = makeProcessTracker("s-1", clock)
    tracker.exec(exec, 2, "/workspace")
    tracker.exec({ ...exec, ts: 2_000_000, argv: ["y"] }, 2, "/workspace")
    expect(tracker.exit({ ts: 11_000_000, pid: 40, status: 9 })[0]!.data).toMatchObject({ exitCode: null, signal: 9, durationMs: 10 })
    expect(tracker.live()).toBe(0)
  })
})
