// The `hydravisor` command tree: one module per verb, composed here.
import { Command } from "@effect/cli"
import { auditCommand } from "./commands/audit.js"
import { configCommand } from "./commands/config.js"
import { demoCommand } from "./commands/demo.js"
import { doctorCommand } from "./commands/doctor.js"
import { imageCommand } from "./commands/image.js"
import { keysCommand } from "./commands/keys.js"
import { agentsCommand } from "./commands/agents.js"
import { mcpCommand } from "./commands/mcp.js"
import { monitorCommand } from "./commands/monitor.js"
import { policyCommand } from "./commands/policy.js"
import { sandboxCommands } from "./commands/sandboxes.js"
import { serveCommand } from "./commands/serve.js"
import { snapshotCommands } from "./commands/snapshots.js"
import { storeCommand } from "./commands/store.js"

export const hydravisor = Command.make("hydravisor").pipe(
  Command.withDescription("Auditable sandboxes for untrusted AI agents: every action is a hash-chained, Ed25519-signed ledger event."),
  Command.withSubcommands([...sandboxCommands, ...snapshotCommands, serveCommand, mcpCommand, monitorCommand, agentsCommand, policyCommand, imageCommand, auditCommand, keysCommand, storeCommand, configCommand, doctorCommand, demoCommand])
)

export const cli = Command.run(hydravisor, { name: "hydravisor", version: "0.1.0" })
