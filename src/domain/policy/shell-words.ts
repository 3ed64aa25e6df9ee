// The simple commands of a shell command string (`sh -c "…"`), enough to see which programs it would
// run: words split on blanks and operators, with single quotes, double quotes and backslashes honoured,
// and command substitutions (`$(…)`, backticks) read as command strings of their own. Variables,
// aliases, functions and globbing are not expanded: a program named through them is not seen.

const operators = new Set([";", "&", "|", "\n", "(", ")", "{", "}"])
const keywords = new Set(["if", "then", "else", "elif", "fi", "do", "done", "while", "until", "for", "case", "esac", "!", "time"])
const assignment = /^[A-Za-z_][A-Za-z0-9_]*=/

/** Index just past the `)` that closes a `$(` whose body starts at `start`. */
const closingParen = (script: string, start: number): number => {
  let depth = 1
  let quote: string | undefined
  for (let i = start; i < script.length; i++) {
    const c = script[i]
    if (quote !== undefined) {
      if (c === "\\" && quote === '"') i++
      else if (c === quote) quote = undefined
    } else if (c === "'" || c === '"') quote = c
    else if (c === "\\") i++
    else if (c === "(") depth++
    else if (c === ")" && --depth === 0) return i + 1
  }
  return script.length
}

interface Split {
  readonly commands: Array<Array<string>>
  readonly substitutions: Array<string>
}

const scan = (script: string): Split => {
  const commands: Array<Array<string>> = []
  const substitutions: Array<string> = []
  let words: Array<string> = []
  let word: string | undefined
  // The word after `>` or `<` is a file, not an argument.
  let redirect = false
  const endWord = () => {
    if (word !== undefined && !redirect) words.push(word)
    if (word !== undefined) redirect = false
    word = undefined
  }
  const endCommand = () => {
    endWord()
    if (words.length > 0) commands.push(words)
    words = []
  }
  const substitution = (i: number): number => {
    if (script[i] === "$" && script[i + 1] === "(") {
      const end = closingParen(script, i + 2)
      substitutions.push(script.slice(i + 2, end - 1))
      word = (word ?? "") + script.slice(i, end)
      return end
    }
    const end = script.indexOf("`", i + 1)
    const stop = end === -1 ? script.length : end
    substitutions.push(script.slice(i + 1, stop))
    word = (word ?? "") + script.slice(i, stop + 1)
    return stop + 1
  }
  let i = 0
  while (i < script.length) {
    const c = script[i] ?? ""
    if (c === "'") {
      const end = script.indexOf("'", i + 1)
      const stop = end === -1 ? script.length : end
      word = (word ?? "") + script.slice(i + 1, stop)
      i = stop + 1
    } else if (c === '"') {
      word = word ?? ""
      i++
      while (i < script.length && script[i] !== '"') {
        if (script[i] === "\\" && i + 1 < script.length) {
          word += script[i + 1]
          i += 2
        } else if ((script[i] === "$" && script[i + 1] === "(") || script[i] === "`") {
          i = substitution(i)
        } else {
          word += script[i]
          i++
        }
      }
      i++
    } else if (c === "\\") {
      if (script[i + 1] !== "\n") word = (word ?? "") + (script[i + 1] ?? "")
      i += 2
    } else if ((c === "$" && script[i + 1] === "(") || c === "`") {
      i = substitution(i)
    } else if (c === " " || c === "\t") {
      endWord()
      i++
    } else if (c === "<" || c === ">") {
      endWord()
      redirect = true
      i += script[i + 1] === ">" || script[i + 1] === "&" || script[i + 1] === "<" ? 2 : 1
    } else if (operators.has(c)) {
      endCommand()
      i++
    } else {
      word = (word ?? "") + c
      i++
    }
  }
  endCommand()
  return { commands, substitutions }
}

export interface ShellCommands {
  readonly commands: ReadonlyArray<ReadonlyArray<string>>
  /** Substitutions nested deeper than followed: the caller should refuse rather than guess. */
  readonly tooDeep: boolean
}

const MAX_NESTING = 8

/** Every simple command the string would run (substitutions included), as argv, best effort. */
export const shellCommands = (script: string, depth = 0): ShellCommands => {
  const { commands, substitutions } = scan(script)
  const direct = commands
    .map((words) => {
      let start = 0
      while (start < words.length && (assignment.test(words[start] ?? "") || keywords.has(words[start] ?? ""))) start++
      return words.slice(start)
    })
    .filter((words) => words.length > 0)
  if (substitutions.length > 0 && depth >= MAX_NESTING) return { commands: direct, tooDeep: true }
  const nested = substitutions.map((inner) => shellCommands(inner, depth + 1))
  return {
    commands: [...direct, ...nested.flatMap((n) => n.commands)],
    tooDeep: nested.some((n) => n.tooDeep)
  }
}
