// Host-side file access to a workspace that untrusted code controls: symlinks are followed only as
// the sandbox would (and never out of it), fifos do not block, written files belong to the
// workspace's owner, and nothing is ever read or written outside it.
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs"
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import fc from "fast-check"
import { Effect, Either } from "effect"
import { listWorkspace, openWorkspace, readWorkspaceFile, workspaceManifest, writeWorkspaceFile, type Workspace } from "../../../src/adapters/mcp/workspace-files.js"
import { removeDir, tempDir } from "../../support/ledger-fixture.js"

const OWNER = 54321
let base: string
let wsDir: string
let outside: string
let ws: Workspace

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runSync(Effect.either(effect))
const refusal = <A, E extends { readonly _tag: string; readonly message: string }>(effect: Effect.Effect<A, E>) => {
  const result = run(effect)
  return Either.isLeft(result) ? `${result.left._tag}: ${result.left.message}` : "allowed"
}
const read = (path: string) => run(readWorkspaceFile(ws, path, 1 << 20))
const write = (path: string, content = "x") => run(writeWorkspaceFile(ws, path, Buffer.from(content), { createParents: true }))
const snapshotOutside = () => JSON.stringify(readdirSync(outside, { recursive: true }).sort()) + readFileSync(join(outside, "secret"), "utf8")

beforeAll(() => {
  base = tempDir("hv-wsfiles-")
  wsDir = join(base, "sandbox", "workspace")
  outside = join(base, "outside")
  mkdirSync(wsDir, { recursive: true })
  mkdirSync(outside)
  writeFileSync(join(outside, "secret"), "host secret")
  mkdirSync(join(wsDir, "d"))
  writeFileSync(join(wsDir, "d", "file.txt"), "inside")
  symlinkSync(outside, join(wsDir, "out-abs"))
  symlinkSync("../../outside", join(wsDir, "out-rel"))
  symlinkSync("/etc/passwd", join(wsDir, "pw"))
  symlinkSync("/workspace/d", join(wsDir, "in-abs"))
  symlinkSync("d/file.txt", join(wsDir, "in-rel"))
  symlinkSync("loop-b", join(wsDir, "loop-a"))
  symlinkSync("loop-a", join(wsDir, "loop-b"))
  symlinkSync("d/not-yet", join(wsDir, "dangling"))
  symlinkSync("../../outside/planted", join(wsDir, "dangling-out"))
  execFileSync("mkfifo", [join(wsDir, "fifo")])
  execFileSync("chown", ["-R", "-h", `${OWNER}:${OWNER}`, wsDir])
  ws = Effect.runSync(openWorkspace(wsDir))
})

afterAll(() => removeDir(base))

describe("workspace files", () => {
  it("reads, writes and lists inside the workspace; new files and directories belong to its owner", () => {
    expect(read("d/file.txt")).toMatchObject(Either.right({ path: "d/file.txt", size: 6, truncated: false }))
    expect(write("new/deep/file.txt", "hello")).toEqual(Either.right({ path: "new/deep/file.txt", bytes: 5, created: true }))
    expect(write("new/deep/file.txt", "hi")).toEqual(Either.right({ path: "new/deep/file.txt", bytes: 2, created: false }))
    expect(readFileSync(join(wsDir, "new/deep/file.txt"), "utf8")).toBe("hi")
    for (const p of ["new", "new/deep", "new/deep/file.txt"]) expect(statSync(join(wsDir, p)).uid).toBe(OWNER)
    const listed = run(listWorkspace(ws, ".", { recursive: false, maxEntries: 100 }))
    expect(Either.getOrThrow(listed).entries.find((e) => e.path === "out-abs")?.type).toBe("symlink")
    expect(Either.getOrThrow(run(listWorkspace(ws, ".", { recursive: true, maxEntries: 3 }))).truncated).toBe(true)
  })

  it("follows symlinks that stay inside, as the sandbox sees them (absolute ones under /workspace)", () => {
    expect(Either.getOrThrow(read("in-rel")).content.toString()).toBe("inside")
    expect(Either.getOrThrow(read("in-abs/file.txt")).content.toString()).toBe("inside")
    expect(write("dangling", "made")).toEqual(Either.right({ path: "d/not-yet", bytes: 4, created: true }))
  })

  it.each([
    ["out-abs/secret", "a symbolic link in it leads out of the workspace"],
    ["out-rel/secret", "a symbolic link in it leads out of the workspace"],
    ["pw", "a symbolic link in it leads out of the workspace"],
    ["dangling-out", "a symbolic link in it leads out of the workspace"],
    ["loop-a", "too many levels of symbolic links"],
    ["../outside/secret", "it leads out of the workspace"],
    ["/etc/passwd", "absolute paths must be under /workspace"],
    ["d/\u0000", "it contains a NUL byte"]
  ])("refuses %j for reading and writing: %s", (path, reason) => {
    const before = snapshotOutside()
    expect(refusal(readWorkspaceFile(ws, path, 100))).toBe(`WorkspaceRefused: path '${path}' refused: ${reason}`)
    expect(refusal(writeWorkspaceFile(ws, path, Buffer.from("pwned"), { createParents: true }))).toBe(`WorkspaceRefused: path '${path}' refused: ${reason}`)
    expect(refusal(listWorkspace(ws, path, { recursive: true, maxEntries: 10 }))).toContain("WorkspaceRefused")
    expect(snapshotOutside()).toBe(before)
    expect(readFileSync("/etc/passwd", "utf8")).not.toContain("pwned")
  })

  it("neither blocks on nor writes into a fifo, and says what is not a regular file", () => {
    expect(refusal(readWorkspaceFile(ws, "fifo", 100))).toBe("WorkspaceFileProblem: 'fifo': is not a regular file")
    expect(refusal(writeWorkspaceFile(ws, "fifo", Buffer.from("x"), { createParents: false }))).toContain("is not a regular file")
    expect(refusal(readWorkspaceFile(ws, "d", 100))).toBe("WorkspaceFileProblem: 'd': is a directory")
    expect(refusal(readWorkspaceFile(ws, ".", 100))).toContain("is the workspace directory itself")
    expect(refusal(writeWorkspaceFile(ws, "nodir/x", Buffer.from("x"), { createParents: false }))).toContain("no such file or directory")
  })

  it("lists every file and link with its hash, without following links", () => {
    const manifest = Either.getOrThrow(run(workspaceManifest(ws, { maxFiles: 1000, maxBytes: 1 << 20 })))
    expect(manifest.entries.find((e) => e.path === "out-abs")).toMatchObject({ kind: "symlink" })
    expect(manifest.entries.some((e) => e.path.startsWith("out-abs/"))).toBe(false)
    expect(manifest.entries.find((e) => e.path === "d/file.txt")).toMatchObject({ kind: "file", bytes: 6 })
  })

  it("whatever path is asked for, nothing outside the workspace is read or changed", () => {
    const before = snapshotOutside()
    const component = fc.constantFrom("..", ".", "", "d", "out-abs", "out-rel", "in-abs", "in-rel", "pw", "loop-a", "dangling-out", "secret", "workspace", "/", "x")
    fc.assert(
      fc.property(fc.array(component, { maxLength: 7 }), fc.boolean(), (parts, absolute) => {
        const path = (absolute ? "/workspace/" : "") + parts.join("/")
        const r = read(path)
        if (Either.isRight(r)) expect(r.right.content.toString()).not.toBe("host secret")
        write(path, "fuzz")
      }),
      { numRuns: 1000 }
    )
    expect(snapshotOutside()).toBe(before)
    expect(existsSync(join(outside, "planted"))).toBe(false)
    expect(readdirSync(join(base, "sandbox"))).toEqual(["workspace"])
  })
})
