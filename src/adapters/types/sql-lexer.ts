/**
 * A strict SQL tokenizer for the few fragments of SQL a backup file carries (column types,
 * defaults, generated expressions, CHECK constraints, index definitions and predicates).
 *
 * It knows exactly the tokens those fragments need and nothing else: a `;`, a comment, a dollar
 * quote, an escape-string (`E'…'`), a parameter or any other character is an error, so text that
 * could end a statement or hide one never gets past it. The parsers built on it
 * (`sql-type.ts`, `sql-expression.ts`) re-emit what they parsed; the input text itself is never
 * sent to a database.
 *
 * @module
 */

export type Dialect = 'postgres' | 'mysql' | 'sqlite'

export type Token =
  | { readonly kind: 'word'; readonly text: string }
  /** A quoted identifier, unquoted (`"a""b"` → `a"b`). */
  | { readonly kind: 'ident'; readonly text: string }
  /** A string literal's value, unescaped. `prefix` is `b` / `x` for MySQL bit and hex literals. */
  | { readonly kind: 'string'; readonly text: string; readonly prefix?: 'b' | 'x' }
  | { readonly kind: 'number'; readonly text: string }
  | { readonly kind: 'op'; readonly text: string }

/** A fragment that is not in the grammar. The message says what was found, never runs anything. */
export class SqlSyntaxError extends Error {
  override readonly name = 'SqlSyntaxError'
}

const OPERATORS = ['!~*', '~*', '!~', '::', '<=', '>=', '<>', '!=', '||', '=', '<', '>', '+', '-', '*', '/', '%', '(', ')', ',', '.', '[', ']', '~']

/** Fragments longer than this are refused outright: no type or expression of a real schema is close. */
export const MAX_FRAGMENT_LENGTH = 4096

/** Splits `text` into tokens. Throws SqlSyntaxError for anything outside the token set. */
export function tokenize(text: string, dialect: Dialect): Token[] {
  if (text.length > MAX_FRAGMENT_LENGTH) throw new SqlSyntaxError(`longer than ${MAX_FRAGMENT_LENGTH} characters`)
  const tokens: Token[] = []
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++
      continue
    }
    if ((c === 'b' || c === 'B' || c === 'x' || c === 'X') && text[i + 1] === "'" && dialect === 'mysql') {
      const [value, end] = readQuoted(text, i + 1, "'", false)
      const prefix = c.toLowerCase() as 'b' | 'x'
      if (!(prefix === 'b' ? /^[01]*$/ : /^[0-9a-fA-F]*$/).test(value)) throw new SqlSyntaxError(`bad ${prefix}'…' literal`)
      tokens.push({ kind: 'string', text: value, prefix })
      i = end
      continue
    }
    if (/[A-Za-z_]/.test(c)) {
      let end = i + 1
      while (end < text.length && /[A-Za-z0-9_$]/.test(text[end]!)) end++
      const word = text.slice(i, end)
      if (text[end] === "'") throw new SqlSyntaxError(`prefixed string ${word}'…' is not accepted`)
      tokens.push({ kind: 'word', text: word })
      i = end
      continue
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const match = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(i))!
      if (/[A-Za-z_]/.test(text[i + match[0].length] ?? '')) throw new SqlSyntaxError(`bad number near "${text.slice(i, i + 20)}"`)
      tokens.push({ kind: 'number', text: match[0] })
      i += match[0].length
      continue
    }
    if (c === "'") {
      const [value, end] = readQuoted(text, i, "'", dialect === 'mysql')
      tokens.push({ kind: 'string', text: value })
      i = end
      continue
    }
    if (c === '"' && dialect !== 'mysql') {
      const [value, end] = readQuoted(text, i, '"', false)
      if (value === '') throw new SqlSyntaxError('empty quoted identifier')
      tokens.push({ kind: 'ident', text: value })
      i = end
      continue
    }
    if (c === '`' && dialect !== 'postgres') {
      const [value, end] = readQuoted(text, i, '`', false)
      if (value === '') throw new SqlSyntaxError('empty quoted identifier')
      tokens.push({ kind: 'ident', text: value })
      i = end
      continue
    }
    if (c === '[' && dialect === 'sqlite' && /^\[[^\]]*[A-Za-z_][^\]]*\]/.test(text.slice(i))) {
      const end = text.indexOf(']', i)
      tokens.push({ kind: 'ident', text: text.slice(i + 1, end) })
      i = end + 1
      continue
    }
    if (c === '-' && text[i + 1] === '-') throw new SqlSyntaxError('comments are not accepted')
    if (c === '/' && text[i + 1] === '*') throw new SqlSyntaxError('comments are not accepted')
    const op = OPERATORS.find((o) => text.startsWith(o, i))
    if (op === undefined) throw new SqlSyntaxError(`unexpected ${JSON.stringify(c)}`)
    tokens.push({ kind: 'op', text: op })
    i += op.length
  }
  return tokens
}

/** Reads a quoted run starting at `start` (the opening quote). Doubled quotes stand for one; MySQL strings also take backslash escapes. */
function readQuoted(text: string, start: number, quote: string, backslashEscapes: boolean): [string, number] {
  let value = ''
  let i = start + 1
  for (;;) {
    if (i >= text.length) throw new SqlSyntaxError('unterminated quoted text')
    const c = text[i]!
    if (c === quote) {
      if (text[i + 1] === quote) {
        value += quote
        i += 2
        continue
      }
      return [value, i + 1]
    }
    if (backslashEscapes && c === '\\') {
      const next = text[i + 1]
      if (next === undefined) throw new SqlSyntaxError('unterminated quoted text')
      value += MYSQL_ESCAPES[next] ?? next
      i += 2
      continue
    }
    value += c
    i++
  }
}

const MYSQL_ESCAPES: Readonly<Record<string, string>> = { '0': '\0', n: '\n', r: '\r', t: '\t', b: '\b', Z: '\x1a' }

/** An identifier quoted for `dialect`: always quoted, so a reserved word or odd character is only ever a name. */
export function quoteIdentifierFor(name: string, dialect: Dialect): string {
  return dialect === 'mysql' ? '`' + name.replace(/`/g, '``') + '`' : `"${name.replace(/"/g, '""')}"`
}

/** A string literal for `dialect` (MySQL: backslashes escaped too, whatever sql_mode says). */
export function quoteStringFor(value: string, dialect: Dialect): string {
  if (value.includes('\0')) throw new SqlSyntaxError('a NUL character in a string literal')
  const body = value.replace(/'/g, "''")
  return dialect === 'mysql' ? `'${body.replace(/\\/g, '\\\\')}'` : `'${body}'`
}

/** A cursor over tokens, for the recursive-descent parsers. */
export class TokenStream {
  #at = 0
  constructor(readonly tokens: readonly Token[]) {}

  peek(offset = 0): Token | undefined {
    return this.tokens[this.#at + offset]
  }
  next(): Token {
    const token = this.tokens[this.#at++]
    if (token === undefined) throw new SqlSyntaxError('ends too early')
    return token
  }
  get done(): boolean {
    return this.#at >= this.tokens.length
  }
  get position(): number {
    return this.#at
  }
  /** True (and consumes it) when the next token is the word `word` (case-insensitive). */
  acceptWord(word: string): boolean {
    const token = this.peek()
    if (token?.kind === 'word' && token.text.toUpperCase() === word) {
      this.#at++
      return true
    }
    return false
  }
  /** True (and consumes it) when the next tokens are these words. */
  acceptWords(...words: string[]): boolean {
    for (let i = 0; i < words.length; i++) {
      const token = this.peek(i)
      if (token?.kind !== 'word' || token.text.toUpperCase() !== words[i]) return false
    }
    this.#at += words.length
    return true
  }
  acceptOp(op: string): boolean {
    const token = this.peek()
    if (token?.kind === 'op' && token.text === op) {
      this.#at++
      return true
    }
    return false
  }
  expectOp(op: string): void {
    if (!this.acceptOp(op)) throw new SqlSyntaxError(`expected "${op}" ${this.#near()}`)
  }
  expectWord(word: string): void {
    if (!this.acceptWord(word)) throw new SqlSyntaxError(`expected ${word} ${this.#near()}`)
  }
  expectEnd(): void {
    if (!this.done) throw new SqlSyntaxError(`unexpected ${this.#near()}`)
  }
  #near(): string {
    const token = this.peek()
    return token === undefined ? 'at the end' : `at ${JSON.stringify(token.text)}`
  }
}
