// What else must happen when a sandbox starts running or stops: the daemon starts the monitors of a
// sandbox before `launch` returns (so an agent's first command is already watched) and stops them
// once its processes are gone. The service calls these; a daemon without monitors provides none.
import { Context, Effect } from "effect"
import type { SandboxHandle } from "../../runners/runner.js"
import type { SandboxView } from "../../projections/sandboxes.js"

export interface SandboxHooksShape {
  /** The sandbox runs (just launched, or found alive after a daemon restart: `restarted`). */
  readonly running: (view: SandboxView, handle: SandboxHandle, how: { readonly restarted: boolean }) => Effect.Effect<void>
  /** The sandbox's processes are gone (stopped, destroyed, found dead or failed); idempotent. */
  readonly ended: (sandboxId: string, reason: string) => Effect.Effect<void>
}

export class SandboxHooks extends Context.Tag("hydravisor/SandboxHooks")<SandboxHooks, SandboxHooksShape>() {}

export const noHooks: SandboxHooksShape = { running: () => Effect.void, ended: () => Effect.void }
