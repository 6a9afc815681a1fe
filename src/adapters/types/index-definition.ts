/**
 * Index definitions from a backup file (PostgreSQL's `pg_get_indexdef`, SQLite's CREATE INDEX
 * text), parsed into their parts and rebuilt: method, key columns or plain expressions, collation,
 * operator class, sort order, INCLUDE columns and a WHERE predicate over the table's own columns.
 * Storage parameters (WITH …, TABLESPACE) are left out. Anything else does not parse.
 *
 * @module
 */
import { SqlSyntaxError, TokenStream, quoteIdentifierFor, tokenize, type Dialect } from './sql-lexer.js'
import { emitExpression, parseExpressionFrom, type SqlExpression } from './sql-expression.js'
import { parseQualifiedName } from './sql-type.js'

export interface IndexElement {
  readonly column?: string
  readonly expression?: SqlExpression
  readonly collation?: { readonly schema?: string; readonly name: string }
  readonly opclass?: { readonly schema?: string; readonly name: string }
  readonly order?: 'ASC' | 'DESC'
  readonly nulls?: 'FIRST' | 'LAST'
}

export interface IndexDefinition {
  readonly dialect: Dialect
  readonly unique: boolean
  readonly name: string
  readonly table: string
  readonly method?: string
  readonly elements: readonly IndexElement[]
  readonly include: readonly string[]
  readonly predicate?: SqlExpression
}

const PG_METHODS = new Set(['btree', 'hash', 'gist', 'gin', 'spgist', 'brin'])

/**
 * Parses a CREATE INDEX statement of `dialect` for `table` whose columns are `columns`.
 * Throws SqlSyntaxError when it is not a plain index of that table.
 */
export function parseIndexDefinition(text: string, dialect: 'postgres' | 'sqlite', table: string, columns: readonly string[]): IndexDefinition {
  const tokens = new TokenStream(tokenize(text, dialect))
  const expressionOptions = { dialect, columns }
  tokens.expectWord('CREATE')
  const unique = tokens.acceptWord('UNIQUE')
  tokens.expectWord('INDEX')
  if (dialect === 'sqlite') tokens.acceptWords('IF', 'NOT', 'EXISTS')
  const indexName = parseQualifiedName(tokens)
  if (indexName.schema !== undefined && dialect === 'sqlite' && indexName.schema !== 'main') throw new SqlSyntaxError('an index in another database')
  tokens.expectWord('ON')
  if (dialect === 'postgres') tokens.acceptWord('ONLY')
  const on = parseQualifiedName(tokens)
  const sameTable = dialect === 'sqlite' ? on.name.toLowerCase() === table.toLowerCase() : on.name === table
  if (!sameTable) throw new SqlSyntaxError(`the index is on "${on.name}", not on "${table}"`)
  let method: string | undefined
  if (dialect === 'postgres' && tokens.acceptWord('USING')) {
    const word = tokens.next()
    method = word.text.toLowerCase()
    if (word.kind !== 'word' || !PG_METHODS.has(method)) throw new SqlSyntaxError(`index method ${JSON.stringify(word.text)} is not accepted`)
  }
  tokens.expectOp('(')
  const elements: IndexElement[] = []
  do elements.push(parseElement(tokens, dialect, columns))
  while (tokens.acceptOp(','))
  tokens.expectOp(')')
  const include: string[] = []
  if (dialect === 'postgres' && tokens.acceptWord('INCLUDE')) {
    tokens.expectOp('(')
    do include.push(columnName(tokens, columns))
    while (tokens.acceptOp(','))
    tokens.expectOp(')')
  }
  if (dialect === 'postgres' && tokens.acceptWords('NULLS', 'NOT', 'DISTINCT')) throw new SqlSyntaxError('NULLS NOT DISTINCT is not rebuilt')
  if (dialect === 'postgres' && tokens.acceptWord('WITH')) skipParenthesized(tokens)
  if (dialect === 'postgres' && tokens.acceptWord('TABLESPACE')) parseQualifiedName(tokens)
  let predicate: SqlExpression | undefined
  if (tokens.acceptWord('WHERE')) predicate = parseExpressionFrom(tokens, expressionOptions)
  tokens.expectEnd()
  return { dialect, unique, name: indexName.name, table, ...(method ? { method } : {}), elements, include, ...(predicate ? { predicate } : {}) }
}

/** The CREATE INDEX text of a parsed definition (for the same engine). */
export function emitIndexDefinition(index: IndexDefinition): string {
  const q = (name: string): string => quoteIdentifierFor(name, index.dialect)
  const qualified = (n: { schema?: string; name: string }): string => (n.schema !== undefined ? `${q(n.schema)}.` : '') + q(n.name)
  const elements = index.elements.map((e) => {
    let text = e.column !== undefined ? q(e.column) : `(${emitExpression(e.expression!, index.dialect)})`
    if (e.collation) text += ` COLLATE ${qualified(e.collation)}`
    if (e.opclass) text += ` ${qualified(e.opclass)}`
    if (e.order) text += ` ${e.order}`
    if (e.nulls) text += ` NULLS ${e.nulls}`
    return text
  })
  let text = `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${q(index.name)} ON ${q(index.table)}`
  if (index.method) text += ` USING ${index.method}`
  text += ` (${elements.join(', ')})`
  if (index.include.length > 0) text += ` INCLUDE (${index.include.map(q).join(', ')})`
  if (index.predicate) text += ` WHERE ${emitExpression(index.predicate, index.dialect)}`
  return text
}

function columnName(tokens: TokenStream, columns: readonly string[]): string {
  const token = tokens.next()
  const name =
    token.kind === 'ident' ? columns.find((c) => c === token.text) : token.kind === 'word' ? columns.find((c) => c.toLowerCase() === token.text.toLowerCase()) : undefined
  if (name === undefined) throw new SqlSyntaxError(`${JSON.stringify(token.text)} is not a column of this table`)
  return name
}

function parseElement(tokens: TokenStream, dialect: Dialect, columns: readonly string[]): IndexElement {
  const next = tokens.peek()
  const afterNext = tokens.peek(1)
  let element: { -readonly [K in keyof IndexElement]: IndexElement[K] }
  const isCall = next?.kind === 'word' && afterNext?.kind === 'op' && afterNext.text === '('
  if ((next?.kind === 'op' && next.text === '(') || isCall) {
    element = { expression: parseExpressionFrom(tokens, { dialect, columns }) }
  } else {
    element = { column: columnName(tokens, columns) }
  }
  if (tokens.acceptWord('COLLATE')) element.collation = parseQualifiedName(tokens)
  const maybeOpclass = tokens.peek()
  if (dialect === 'postgres' && maybeOpclass !== undefined && (maybeOpclass.kind === 'ident' || (maybeOpclass.kind === 'word' && !/^(ASC|DESC|NULLS)$/i.test(maybeOpclass.text)))) {
    element.opclass = parseQualifiedName(tokens)
  }
  if (tokens.acceptWord('ASC')) element.order = 'ASC'
  else if (tokens.acceptWord('DESC')) element.order = 'DESC'
  if (dialect === 'postgres' && tokens.acceptWord('NULLS')) {
    if (tokens.acceptWord('FIRST')) element.nulls = 'FIRST'
    else {
      tokens.expectWord('LAST')
      element.nulls = 'LAST'
    }
  }
  return element
}

/** Skips `( … )` (storage parameters, which are not rebuilt). */
function skipParenthesized(tokens: TokenStream): void {
  tokens.expectOp('(')
  for (let depth = 1; depth > 0; ) {
    const token = tokens.next()
    if (token.kind === 'op' && token.text === '(') depth++
    else if (token.kind === 'op' && token.text === ')') depth--
  }
}
