// Options every verb shares, defined once.
import { Args, Options } from "@effect/cli"

export const dataDirOption = Options.directory("data-dir").pipe(
  Options.withDescription("where the ledger and keys live (default: $HYDRAVISOR_DATA_DIR or ~/.local/share/hydravisor)"),
  Options.optional
)

export const jsonOption = Options.boolean("json").pipe(Options.withDescription("print one JSON document for programs instead of text"))

export const sandboxArg = Args.text({ name: "sandbox" }).pipe(Args.withDescription("the sandbox's name or id"))
