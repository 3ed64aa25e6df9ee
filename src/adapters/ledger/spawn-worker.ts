// Starts a worker thread on one of our modules, whether we run compiled (dist/*.js) or from the
// TypeScript sources under tsx or vitest (then the worker registers tsx before importing it).
import { Worker } from "node:worker_threads"

export const spawnModuleWorker = (moduleUrl: URL, workerData: unknown): Worker => {
  if (moduleUrl.pathname.endsWith(".ts")) {
    const code = `import("tsx/esm/api").then((m) => { m.register(); return import(${JSON.stringify(moduleUrl.href)}) })`
    return new Worker(code, { eval: true, workerData })
  }
  return new Worker(moduleUrl, { workerData })
}

/** The URL of a sibling module, with the extension of the module asking for it. */
export const siblingModule = (base: string, name: string): URL =>
  new URL(`./${name}${base.endsWith(".ts") ? ".ts" : ".js"}`, base)
