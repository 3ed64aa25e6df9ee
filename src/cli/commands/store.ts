// `hydravisor store copy --from URI --to URI`: moves a ledger between stores (SQLite, EventStoreDB)
// with every signature intact, resumable, and verifies the copy.
import { Command, Options } from "@effect/cli"
import { Context, Effect, Either, Layer } from "effect"
import { copyStore, parseStoreUri, storeLayer } from "../../adapters/store/copy.js"
import { EventStore } from "../../adapters/store/event-store.js"
import { ExitWith } from "../errors.js"
import { jsonOption } from "../options.js"
import { printJson, progress, say } from "../output.js"

const uriOption = (name: string, description: string) => Options.text(name).pipe(Options.withDescription(description))

const copy = Command.make(
  "copy",
  {
    json: jsonOption,
    from: uriOption("from", "source: sqlite:PATH or esdb://HOST:PORT[?tls=false]"),
    to: uriOption("to", "destination: sqlite:PATH or esdb://HOST:PORT[?tls=false]")
  },
  (o) =>
    Effect.gen(function* () {
      const from = parseStoreUri(o.from)
      if (Either.isLeft(from)) return yield* Effect.fail(from.left)
      const to = parseStoreUri(o.to)
      if (Either.isLeft(to)) return yield* Effect.fail(to.left)
      const line = progress("copying")
      const report = yield* Effect.gen(function* () {
        const source = Context.get(yield* Layer.build(storeLayer(from.right, { readonly: true })), EventStore)
        const target = Context.get(yield* Layer.build(storeLayer(to.right)), EventStore)
        return yield* copyStore(source, target, { onProgress: (p) => line.update(`${p.copied + p.skipped} records`) })
      }).pipe(Effect.scoped)
      yield* line.done()
      if (o.json) yield* printJson(report)
      else yield* say(`copied ${report.copied} record(s), ${report.skipped} already there; the copy ${report.verification.ok ? "verifies" : "does NOT verify"} (${report.verification.records} records, ${report.verification.writers.length} writer(s))`)
      if (!report.verification.ok) return yield* Effect.fail(new ExitWith(1))
    })
).pipe(Command.withDescription("Copy a ledger between stores with all signatures intact; resumable; the copy is verified in full."))

export const storeCommand = Command.make("store").pipe(Command.withDescription("The ledger's store"), Command.withSubcommands([copy]))
