// The effective configuration for a verb: defaults < config file < HYDRAVISOR_* variables < flags.
import { homedir } from "node:os"
import { NodeFileSystem } from "@effect/platform-node"
import { Effect } from "effect"
import { loadConfig } from "../adapters/config/load-config.js"
import type { ConfigInput } from "../domain/config/config.js"
import type { LedgerOptions } from "../adapters/ledger/ledger.js"
import type { Config } from "../domain/config/config.js"

export const cliConfig = (flags: ConfigInput = {}) =>
  loadConfig({ env: process.env, home: homedir(), flags }).pipe(Effect.provide(NodeFileSystem.layer))

export const ledgerOptionsOf = (config: Config): Partial<LedgerOptions> => ({
  checkpointEveryRecords: config.ledger.checkpoint_every_records,
  checkpointEverySeconds: config.ledger.checkpoint_every_seconds,
  witnessFile: config.ledger.witness_file
})
