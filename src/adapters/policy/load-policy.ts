// Reading a policy file: YAML decoded with the PolicyDocument Schema (unknown keys, wrong types and
// negative limits reported at file:line:column with the field), then what only the current policy
// state can tell: a built-in's name is reserved, and `extends` must name a known policy without a cycle.
import { FileSystem } from "@effect/platform"
import { Data, Effect, Either } from "effect"
import { builtinPolicyNames, isBuiltinPolicy } from "../../domain/policy/builtins.js"
import { PolicyDocument } from "../../domain/policy/policy-document.js"
import type { PolicyState } from "../../domain/policy/policy-state.js"
import { resolveDocument } from "../../domain/policy/resolve.js"
import { decodeParsedYaml, formatYamlProblem, InvalidYaml, parseYaml } from "../config/yaml-decode.js"
import type { ParsedYaml, YamlProblem } from "../config/yaml-decode.js"

export class PolicyFileUnreadable extends Data.TaggedError("PolicyFileUnreadable")<{
  readonly file: string
  readonly message: string
}> {}

export interface LoadedPolicy {
  readonly document: PolicyDocument
  /** The file as given, for messages and the PolicyApplied `source`. */
  readonly file: string
  readonly text: string
}

const problemAt = (parsed: ParsedYaml, path: ReadonlyArray<string>, reason: string): InvalidYaml => {
  const problem: YamlProblem = { file: parsed.file, ...parsed.locate(path), field: path.join("."), reason }
  return new InvalidYaml({ ...problem, message: formatYamlProblem(problem), problems: [problem] })
}

/** Decodes policy text against the applied policies (for `extends`). Nothing is applied here. */
export const decodePolicyText = (file: string, text: string, applied: PolicyState): Either.Either<PolicyDocument, InvalidYaml> =>
  Either.flatMap(parseYaml(file, text), (parsed) =>
    Either.flatMap(decodeParsedYaml(PolicyDocument, parsed), (document) => {
      if (isBuiltinPolicy(document.name)) {
        return Either.left(problemAt(parsed, ["name"], `'${document.name}' is a built-in policy and cannot be replaced; choose another name and 'extends: ${document.name}'`))
      }
      return Either.mapBoth(resolveDocument(document, applied), {
        onLeft: (error) =>
          problemAt(parsed, ["extends"], error._tag === "UnknownPolicy"
            ? `unknown policy '${error.name}'; built-in: ${builtinPolicyNames.join(", ")}${error.available.length > builtinPolicyNames.length ? `; applied: ${error.available.filter((n) => !isBuiltinPolicy(n)).join(", ")}` : ""}`
            : error.message),
        onRight: () => document
      })
    })
  )

export const loadPolicyFile = (
  file: string,
  applied: PolicyState
): Effect.Effect<LoadedPolicy, InvalidYaml | PolicyFileUnreadable, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(file).pipe(
      Effect.mapError((error) => new PolicyFileUnreadable({ file, message: `${file}: cannot read: ${error.message}` }))
    )
    const document = yield* decodePolicyText(file, text, applied)
    return { document, file, text }
  })
