/**
 * Plain SQL expressions from a backup file (defaults, generated columns, CHECK constraints,
 * index keys and predicates): parsed into a small tree and re-emitted, never passed on as text.
 *
 * What parses: literals (numbers, strings, TRUE/FALSE/NULL, MySQL b'…'/x'…'), the table's own
 * columns (only those the caller lists), CURRENT_TIMESTAMP and its kin, arithmetic, comparison,
 * `||`, AND/OR/NOT, IS [NOT] NULL/TRUE/FALSE, [NOT] IN (…), [NOT] BETWEEN, [NOT] LIKE, casts
 * (`::type`, `CAST(x AS type)`, with the type parsed by sql-type.ts), PostgreSQL `ARRAY[…]`, and
 * calls of a short list of pure functions (`lower`, `coalesce`, `now`, …). Nothing else: no
 * subquery, no other function (so no `pg_read_file`, `load_file`, `sleep`), no other table.
 * The emitted text puts every operation in parentheses, so precedence never depends on the engine.
 *
 * @module
 */
import { SqlSyntaxError, TokenStream, quoteIdentifierFor, quoteStringFor, tokenize, type Dialect } from './sql-lexer.js'
import { emitType, parseQualifiedName, parseType, type SqlType } from './sql-type.js'

export type SqlExpression =
  | { readonly t: 'number'; readonly text: string }
  | { readonly t: 'string'; readonly value: string; readonly prefix?: 'b' | 'x' }
  | { readonly t: 'keyword'; readonly word: string; readonly precision?: number }
  | { readonly t: 'column'; readonly name: string; readonly bare?: boolean }
  | { readonly t: 'unary'; readonly op: '-' | '+' | 'NOT'; readonly arg: SqlExpression }
  | { readonly t: 'binary'; readonly op: string; readonly left: SqlExpression; readonly right: SqlExpression }
  | { readonly t: 'is'; readonly arg: SqlExpression; readonly not: boolean; readonly what: 'NULL' | 'TRUE' | 'FALSE' }
  | { readonly t: 'in'; readonly arg: SqlExpression; readonly not: boolean; readonly list: readonly SqlExpression[] }
  | { readonly t: 'between'; readonly arg: SqlExpression; readonly not: boolean; readonly low: SqlExpression; readonly high: SqlExpression }
  | { readonly t: 'call'; readonly name: string; readonly args: readonly SqlExpression[] }
  | { readonly t: 'cast'; readonly arg: SqlExpression; readonly type: SqlType; readonly style: '::' | 'CAST' }
  | { readonly t: 'array'; readonly items: readonly SqlExpression[] }

export interface ExpressionOptions {
  readonly dialect: Dialect
  /** Column names the expression may use (a default may use none). Matched exactly, or case-insensitively for bare words. */
  readonly columns: readonly string[]
  /** Names a bare word may use as a column besides `columns` (a domain's CHECK uses VALUE). */
  readonly pseudoColumns?: readonly string[]
}

/** Pure functions an expression may call, by dialect. Lowercase. */
const FUNCTIONS: Readonly<Record<Dialect, ReadonlySet<string>>> = {
  postgres: new Set([
    'lower', 'upper', 'length', 'char_length', 'character_length', 'octet_length', 'coalesce', 'nullif', 'abs', 'round', 'trunc', 'floor', 'ceil', 'ceiling',
    'btrim', 'ltrim', 'rtrim', 'substr', 'concat', 'replace', 'left', 'right', 'greatest', 'least', 'now', 'gen_random_uuid', 'uuid_generate_v4',
    'transaction_timestamp', 'statement_timestamp', 'clock_timestamp', 'timezone', 'date_trunc', 'array_length', 'cardinality', 'jsonb_typeof', 'json_typeof', 'md5',
  ]),
  mysql: new Set([
    'lower', 'upper', 'length', 'char_length', 'character_length', 'octet_length', 'coalesce', 'nullif', 'ifnull', 'abs', 'round', 'truncate', 'floor', 'ceil', 'ceiling',
    'trim', 'ltrim', 'rtrim', 'substr', 'substring', 'concat', 'concat_ws', 'replace', 'left', 'right', 'greatest', 'least', 'now', 'current_timestamp', 'curdate',
    'curtime', 'current_date', 'current_time', 'utc_timestamp', 'utc_date', 'localtimestamp', 'localtime', 'uuid', 'json_valid', 'json_object', 'json_array',
    'md5', 'date', 'year', 'month', 'day', 'timestampdiff', 'unix_timestamp', 'from_unixtime', 'json_extract', 'json_unquote', 'sysdate',
  ]),
  sqlite: new Set([
    'lower', 'upper', 'length', 'coalesce', 'nullif', 'ifnull', 'abs', 'round', 'trim', 'ltrim', 'rtrim', 'substr', 'substring', 'replace', 'max', 'min',
    'datetime', 'date', 'time', 'julianday', 'strftime', 'unixepoch', 'json_valid', 'json', 'json_extract', 'json_array', 'json_object', 'hex', 'typeof', 'instr',
  ]),
}

const KEYWORDS = new Set(['CURRENT_TIMESTAMP', 'CURRENT_DATE', 'CURRENT_TIME', 'LOCALTIMESTAMP', 'LOCALTIME', 'CURRENT_USER'])
const RESERVED = new Set(['AND', 'OR', 'NOT', 'IS', 'IN', 'BETWEEN', 'LIKE', 'ILIKE', 'NULL', 'TRUE', 'FALSE', 'CAST', 'AS', 'ARRAY', 'SELECT', 'FROM', 'WHERE'])
const COMPARISONS = new Set(['=', '<>', '!=', '<', '>', '<=', '>='])
const REGEX_MATCH = new Set(['~', '~*', '!~', '!~*'])
const MAX_DEPTH = 64

/** Parses `text` as a plain expression. Throws SqlSyntaxError saying what is not allowed. */
export function parseExpression(text: string, options: ExpressionOptions): SqlExpression {
  const tokens = new TokenStream(tokenize(text, options.dialect))
  const expression = new ExpressionParser(tokens, options).parse()
  tokens.expectEnd()
  return expression
}

/** Parses and re-emits `text` for its dialect: the canonical text, or SqlSyntaxError. */
export function normalizeExpression(text: string, options: ExpressionOptions): string {
  return emitExpression(parseExpression(text, options), options.dialect)
}

/** Parses an expression from a token stream already positioned on it (index definitions). */
export function parseExpressionFrom(tokens: TokenStream, options: ExpressionOptions): SqlExpression {
  return new ExpressionParser(tokens, options).parse()
}

/** The columns an expression reads. */
export function columnsOf(expression: SqlExpression): string[] {
  switch (expression.t) {
    case 'column':
      return [expression.name]
    case 'unary':
    case 'is':
    case 'cast':
      return columnsOf(expression.arg)
    case 'binary':
      return [...columnsOf(expression.left), ...columnsOf(expression.right)]
    case 'in':
      return [...columnsOf(expression.arg), ...expression.list.flatMap(columnsOf)]
    case 'between':
      return [expression.arg, expression.low, expression.high].flatMap(columnsOf)
    case 'call':
      return expression.args.flatMap(columnsOf)
    case 'array':
      return expression.items.flatMap(columnsOf)
    default:
      return []
  }
}

class ExpressionParser {
  readonly #tokens: TokenStream
  readonly #options: ExpressionOptions
  readonly #columns: Map<string, string>
  readonly #pseudo: ReadonlySet<string>
  #depth = 0

  constructor(tokens: TokenStream, options: ExpressionOptions) {
    this.#tokens = tokens
    this.#options = options
    this.#columns = new Map(options.columns.map((c) => [c, c]))
    this.#pseudo = new Set((options.pseudoColumns ?? []).map((p) => p.toUpperCase()))
  }

  parse(): SqlExpression {
    if (++this.#depth > MAX_DEPTH) throw new SqlSyntaxError(`nested more than ${MAX_DEPTH} deep`)
    try {
      return this.#or()
    } finally {
      this.#depth--
    }
  }

  #or(): SqlExpression {
    let left = this.#and()
    while (this.#tokens.acceptWord('OR')) left = { t: 'binary', op: 'OR', left, right: this.#and() }
    return left
  }

  #and(): SqlExpression {
    let left = this.#not()
    while (this.#tokens.acceptWord('AND')) left = { t: 'binary', op: 'AND', left, right: this.#not() }
    return left
  }

  #not(): SqlExpression {
    if (this.#tokens.acceptWord('NOT')) return { t: 'unary', op: 'NOT', arg: this.#not() }
    return this.#comparison()
  }

  #comparison(): SqlExpression {
    const tokens = this.#tokens
    let left = this.#concat()
    for (;;) {
      const token = tokens.peek()
      if (token?.kind === 'op' && (COMPARISONS.has(token.text) || (this.#options.dialect === 'postgres' && REGEX_MATCH.has(token.text)))) {
        tokens.next()
        left = { t: 'binary', op: token.text === '!=' ? '<>' : token.text, left, right: this.#concat() }
        continue
      }
      if (tokens.acceptWord('IS')) {
        const not = tokens.acceptWord('NOT')
        const what = tokens.next()
        const word = what.kind === 'word' ? what.text.toUpperCase() : ''
        if (word !== 'NULL' && word !== 'TRUE' && word !== 'FALSE') throw new SqlSyntaxError(`IS ${not ? 'NOT ' : ''}${what.text} is not accepted`)
        left = { t: 'is', arg: left, not, what: word }
        continue
      }
      const not = tokens.peek()?.kind === 'word' && tokens.peek()!.text.toUpperCase() === 'NOT' && tokens.peek(1)?.kind === 'word'
      const keyword = (not ? tokens.peek(1) : token)?.text.toUpperCase()
      if (keyword === 'IN' || keyword === 'BETWEEN' || keyword === 'LIKE' || (keyword === 'ILIKE' && this.#options.dialect === 'postgres')) {
        if (not) tokens.next()
        tokens.next()
        if (keyword === 'IN') {
          tokens.expectOp('(')
          const list = this.#list(')')
          left = { t: 'in', arg: left, not, list }
        } else if (keyword === 'BETWEEN') {
          const low = this.#concat()
          tokens.expectWord('AND')
          left = { t: 'between', arg: left, not, low, high: this.#concat() }
        } else {
          const pattern = this.#concat()
          left = { t: 'binary', op: `${not ? 'NOT ' : ''}${keyword}`, left, right: pattern }
        }
        continue
      }
      return left
    }
  }

  #concat(): SqlExpression {
    let left = this.#additive()
    while (this.#tokens.acceptOp('||')) {
      if (this.#options.dialect === 'mysql') throw new SqlSyntaxError('|| is not accepted in MySQL expressions')
      left = { t: 'binary', op: '||', left, right: this.#additive() }
    }
    return left
  }

  #additive(): SqlExpression {
    let left = this.#multiplicative()
    for (;;) {
      if (this.#tokens.acceptOp('+')) left = { t: 'binary', op: '+', left, right: this.#multiplicative() }
      else if (this.#tokens.acceptOp('-')) left = { t: 'binary', op: '-', left, right: this.#multiplicative() }
      else return left
    }
  }

  #multiplicative(): SqlExpression {
    let left = this.#unary()
    for (;;) {
      const token = this.#tokens.peek()
      if (token?.kind === 'op' && (token.text === '*' || token.text === '/' || token.text === '%')) {
        this.#tokens.next()
        left = { t: 'binary', op: token.text, left, right: this.#unary() }
      } else return left
    }
  }

  #unary(): SqlExpression {
    if (this.#tokens.acceptOp('-')) return { t: 'unary', op: '-', arg: this.#unary() }
    if (this.#tokens.acceptOp('+')) return { t: 'unary', op: '+', arg: this.#unary() }
    return this.#postfix()
  }

  #postfix(): SqlExpression {
    let expression = this.#primary()
    while (this.#options.dialect === 'postgres' && this.#tokens.acceptOp('::')) {
      expression = { t: 'cast', arg: expression, type: this.#type(), style: '::' }
    }
    return expression
  }

  #type(): SqlType {
    // A type inside an expression ends where the expression goes on: gather the tokens that can
    // belong to one and hand them to the type grammar.
    const tokens = this.#tokens
    const start = tokens.position
    let depth = 0
    for (;;) {
      const token = tokens.peek()
      if (token === undefined) break
      if (token.kind === 'op' && token.text === '(') depth++
      else if (token.kind === 'op' && token.text === ')') {
        if (depth === 0) break
        depth--
      } else if (depth === 0 && token.kind === 'word' && RESERVED.has(token.text.toUpperCase())) break
      else if (depth === 0 && token.kind === 'op' && token.text === '[') {
        // Array dimensions: `[]` or `[n]`; a lone `]` ends the type (it closes an ARRAY[…]).
        const size = tokens.peek(1)
        const close = size?.kind === 'number' ? tokens.peek(2) : size
        if (close?.kind !== 'op' || close.text !== ']') break
        tokens.next()
        if (size?.kind === 'number') tokens.next()
      } else if (depth === 0 && token.kind === 'op' && token.text !== '.') break
      else if (depth === 0 && token.kind === 'number') break
      tokens.next()
    }
    const slice = new TokenStream(tokens.tokens.slice(start, tokens.position))
    return parseTypeTokens(slice, this.#options.dialect)
  }

  #list(close: ')' | ']'): SqlExpression[] {
    const items: SqlExpression[] = []
    if (this.#tokens.acceptOp(close)) return items
    do items.push(this.parse())
    while (this.#tokens.acceptOp(','))
    this.#tokens.expectOp(close)
    if (items.length > 1000) throw new SqlSyntaxError('a list of more than 1000 items')
    return items
  }

  #primary(): SqlExpression {
    const tokens = this.#tokens
    const token = tokens.next()
    switch (token.kind) {
      case 'number':
        return { t: 'number', text: token.text }
      case 'string':
        return { t: 'string', value: token.text, ...(token.prefix ? { prefix: token.prefix } : {}) }
      case 'ident': {
        const name = this.#columns.get(token.text)
        if (name === undefined) throw new SqlSyntaxError(`"${token.text}" is not a column of this table`)
        return { t: 'column', name }
      }
      case 'op':
        if (token.text === '(') {
          const inner = this.parse()
          tokens.expectOp(')')
          return inner
        }
        throw new SqlSyntaxError(`unexpected "${token.text}"`)
      case 'word':
        return this.#word(token.text)
    }
  }

  #word(text: string): SqlExpression {
    const tokens = this.#tokens
    const upper = text.toUpperCase()
    if (upper === 'NULL' || upper === 'TRUE' || upper === 'FALSE') return { t: 'keyword', word: upper }
    if (upper === 'CAST' && tokens.acceptOp('(')) {
      const arg = this.parse()
      tokens.expectWord('AS')
      const type = this.#type()
      tokens.expectOp(')')
      return { t: 'cast', arg, type, style: 'CAST' }
    }
    if (upper === 'ARRAY' && this.#options.dialect === 'postgres' && tokens.acceptOp('[')) return { t: 'array', items: this.#list(']') }
    if (KEYWORDS.has(upper) && !(tokens.peek()?.kind === 'op' && tokens.peek()?.text === '(' && tokens.peek(1)?.kind === 'op' && tokens.peek(1)?.text === ')')) {
      if (tokens.acceptOp('(')) {
        const precision = tokens.next()
        if (precision.kind !== 'number' || !/^\d$/.test(precision.text)) throw new SqlSyntaxError(`${upper}(…) takes a digit`)
        tokens.expectOp(')')
        return { t: 'keyword', word: upper, precision: Number(precision.text) }
      }
      return { t: 'keyword', word: upper }
    }
    if (tokens.peek()?.kind === 'op' && tokens.peek()?.text === '(') {
      const name = text.toLowerCase()
      if (!FUNCTIONS[this.#options.dialect].has(name)) throw new SqlSyntaxError(`function ${text}() is not one mergeback accepts from a backup`)
      tokens.next()
      return { t: 'call', name, args: this.#list(')') }
    }
    if (this.#pseudo.has(upper)) return { t: 'column', name: upper, bare: true }
    const column = this.#columns.get(text) ?? [...this.#columns.keys()].find((c) => c.toLowerCase() === text.toLowerCase())
    if (column !== undefined && !RESERVED.has(upper)) return { t: 'column', name: column }
    throw new SqlSyntaxError(`"${text}" is neither a column of this table nor an accepted keyword`)
  }
}

function parseTypeTokens(tokens: TokenStream, dialect: Dialect): SqlType {
  // Re-join the tokens as text for the type grammar: they are words, quoted names, numbers and
  // punctuation only, each re-quoted, so the round trip cannot change their meaning.
  const text = tokens.tokens
    .map((t) => (t.kind === 'ident' ? quoteIdentifierFor(t.text, dialect) : t.kind === 'string' ? quoteStringFor(t.text, dialect) : t.text))
    .join(' ')
    .replace(/ \( /g, '(')
    .replace(/ \)/g, ')')
    .replace(/ , /g, ',')
    .replace(/ \[ ?/g, '[')
    .replace(/ \]/g, ']')
    .replace(/ \. /g, '.')
  if (text === '') throw new SqlSyntaxError('a cast without a type')
  return parseType(text, dialect)
}

/** The canonical text of a parsed expression, every operation parenthesized. */
export function emitExpression(expression: SqlExpression, dialect: Dialect): string {
  const emit = (e: SqlExpression): string => emitExpression(e, dialect)
  switch (expression.t) {
    case 'number':
      return expression.text
    case 'string':
      return expression.prefix ? `${expression.prefix}'${expression.value}'` : quoteStringFor(expression.value, dialect)
    case 'keyword':
      return expression.precision === undefined ? expression.word : `${expression.word}(${expression.precision})`
    case 'column':
      return expression.bare ? expression.name : quoteIdentifierFor(expression.name, dialect)
    case 'unary':
      return expression.op === 'NOT' ? `(NOT ${emit(expression.arg)})` : `(${expression.op}${emit(expression.arg)})`
    case 'binary':
      return `(${emit(expression.left)} ${expression.op} ${emit(expression.right)})`
    case 'is':
      return `(${emit(expression.arg)} IS ${expression.not ? 'NOT ' : ''}${expression.what})`
    case 'in':
      return `(${emit(expression.arg)} ${expression.not ? 'NOT ' : ''}IN (${expression.list.map(emit).join(', ')}))`
    case 'between':
      return `(${emit(expression.arg)} ${expression.not ? 'NOT ' : ''}BETWEEN ${emit(expression.low)} AND ${emit(expression.high)})`
    case 'call':
      return `${expression.name}(${expression.args.map(emit).join(', ')})`
    case 'cast':
      return expression.style === '::' ? `(${emit(expression.arg)})::${emitType(expression.type)}` : `CAST(${emit(expression.arg)} AS ${emitType(expression.type)})`
    case 'array':
      return `ARRAY[${expression.items.map(emit).join(', ')}]`
  }
}

export { parseQualifiedName }
