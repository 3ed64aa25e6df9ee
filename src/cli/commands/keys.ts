// `hydravisor keys show|rotate`: the writer's signing key.
import { statSync } from "node:fs"
import { Command } from "@effect/cli"
import { Effect } from "effect"
import { Ledger } from "../../adapters/ledger/ledger.js"
import { keyPaths, loadOrCreateWriterKey } from "../../adapters/keys/key-store.js"
import { resolveDataDir } from "../data-dir.js"
import { dataDirOption, jsonOption } from "../options.js"
import { printJson, say } from "../output.js"
import { writerLayer } from "../stores.js"

const show = Command.make("show", { dataDir: dataDirOption, json: jsonOption }, (o) =>
  Effect.gen(function* () {
    const dataDir = resolveDataDir(o.dataDir)
    const { key, created } = yield* loadOrCreateWriterKey(dataDir)
    const file = keyPaths(dataDir).privateKey
    const info = {
      writerId: key.writerId,
      keyId: key.keyId,
      algorithm: "ed25519",
      publicKey: Buffer.from(key.publicKeyRaw).toString("hex"),
      privateKeyFile: file,
      mode: (statSync(file).mode & 0o777).toString(8).padStart(4, "0"),
      created
    }
    yield* o.json
      ? printJson(info)
      : say([`writer      ${info.writerId}`, `key id      ${info.keyId}`, `public key  ${info.publicKey} (ed25519)`, `private key ${file} (mode ${info.mode})${created ? " — created now" : ""}`].join("\n"))
  })
).pipe(Command.withDescription("Show the writer identity and its current public key (creates the key on first use)."))

const rotate = Command.make("rotate", { dataDir: dataDirOption, json: jsonOption }, (o) =>
  Effect.gen(function* () {
    const result = yield* Effect.flatMap(Ledger, (l) => l.rotateKey).pipe(Effect.provide(writerLayer(resolveDataDir(o.dataDir))), Effect.scoped)
    yield* o.json ? printJson(result) : say(`rotated: key ${result.previousKeyId} -> ${result.keyId} (recorded as WriterKeyRotated, signed by the old key)`)
  })
).pipe(Command.withDescription("Replace the writer key; the rotation is a ledger event signed by the old key."))

export const keysCommand = Command.make("keys").pipe(Command.withDescription("The ledger writer's Ed25519 key"), Command.withSubcommands([show, rotate]))
