// Where Hydravisor keeps its ledger and keys: --data-dir, else $HYDRAVISOR_DATA_DIR, else
// $XDG_DATA_HOME/hydravisor, else ~/.local/share/hydravisor.
import { homedir } from "node:os"
import { join, resolve } from "node:path"
import { Option } from "effect"

export const defaultDataDir = (env: NodeJS.ProcessEnv = process.env): string =>
  env["HYDRAVISOR_DATA_DIR"] ??
  join(env["XDG_DATA_HOME"] ?? join(homedir(), ".local", "share"), "hydravisor")

export const resolveDataDir = (flag: Option.Option<string>): string => resolve(Option.getOrElse(flag, () => defaultDataDir()))

export const ledgerPath = (dataDir: string) => join(dataDir, "ledger.db")
