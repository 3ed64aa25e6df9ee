// What can go wrong with images, as values: a build names the step that failed and the last lines
// that step printed, so the person reading it needs no log file.
import { Data } from "effect"

export class ImageBuildFailed extends Data.TaggedError("ImageBuildFailed")<{
  readonly recipeHash: string
  readonly step: string
  readonly reason: string
  /** The last lines of the step's output (debootstrap's, and its log when it left one). */
  readonly outputTail: ReadonlyArray<string>
}> {
  override get message() {
    const tail = this.outputTail.length === 0 ? "" : `\n${this.outputTail.map((line) => `  | ${line}`).join("\n")}`
    return `image ${this.recipeHash.slice(0, 12)}: ${this.step} failed: ${this.reason}${tail}`
  }
}

export class ImageNotFound extends Data.TaggedError("ImageNotFound")<{
  readonly hash: string
  readonly imagesDir: string
}> {
  override get message() {
    return `no image ${this.hash} in ${this.imagesDir}; \`hydravisor image list\` shows the built ones`
  }
}

export class ImageStoreFailure extends Data.TaggedError("ImageStoreFailure")<{
  readonly path: string
  readonly operation: string
  readonly reason: string
}> {
  override get message() {
    return `image store: ${this.operation} failed at ${this.path}: ${this.reason}`
  }
}
