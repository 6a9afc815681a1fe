/**
 * Column types as structured values, per engine: `parseType(text, engine)` reads the type text a
 * backup carries against a strict grammar of that engine, and `emitType` writes it back. Only
 * the emitted text ever reaches a database, so whatever else the backup's text held is gone.
 *
 * The grammar per engine:
 * - PostgreSQL: a built-in name (`character varying`, `timestamp … with time zone`,
 *   `double precision`, …) with an optional `(n[, m])`, or a user type (enum, domain, extension
 *   type) as `name` / `schema.name`, quoted or not; then array dimensions `[]`.
 * - MySQL/MariaDB: a built-in name with `(n[, m])` or, for ENUM/SET, its labels; then UNSIGNED,
 *   ZEROFILL, CHARACTER SET x, COLLATE y.
 * - SQLite: one to five plain words (SQLite takes any name and derives an affinity from it)
 *   with an optional `(n[, m])`; none may be a word that starts a column constraint.
 *
 * This is the one module that knows type names per engine; mapping a type of one engine onto
 * another's (cross-engine restore) belongs beside it, on these structures.
 *
 * @module
 */
import { SqlSyntaxError, TokenStream, quoteIdentifierFor, quoteStringFor, tokenize, type Dialect } from './sql-lexer.js'

export interface SqlType {
  readonly engine: Dialect
  /** Built-in type: its name in lowercase words (`character varying`, `int`). Empty for a user type. */
  readonly name: string
  /** A user-defined type (PostgreSQL enum, domain or extension type), emitted quoted. */
  readonly user?: { readonly schema?: string; readonly name: string }
  /** Length, precision and scale, or fractional-second precision, in order. */
  readonly params: readonly number[]
  /** MySQL ENUM / SET labels. */
  readonly labels?: readonly string[]
  /** Words after the parameters: `with time zone`, `day to second`, `unsigned zerofill`. Lowercase. */
  readonly suffix: string
  /** PostgreSQL: a parameter after the suffix (`interval day to second(3)`). */
  readonly suffixParams?: readonly number[]
  /** MySQL: CHARACTER SET and COLLATE names. */
  readonly charset?: string
  readonly collation?: string
  /** PostgreSQL array dimensions. */
  readonly arrayDims: number
}

const PG_NAMES = new Set([
  'smallint', 'integer', 'int', 'int2', 'int4', 'int8', 'bigint', 'smallserial', 'serial', 'bigserial', 'serial2', 'serial4', 'serial8',
  'numeric', 'decimal', 'real', 'float4', 'float8', 'float', 'double precision', 'money',
  'character varying', 'varchar', 'character', 'char', 'bpchar', 'text', 'name', 'citext',
  'bytea', 'boolean', 'bool', 'date', 'time', 'timetz', 'timestamp', 'timestamptz', 'interval',
  'uuid', 'json', 'jsonb', 'jsonpath', 'xml', 'inet', 'cidr', 'macaddr', 'macaddr8', 'bit', 'bit varying', 'varbit',
  'point', 'line', 'lseg', 'box', 'path', 'polygon', 'circle', 'tsvector', 'tsquery', 'oid', 'pg_lsn', 'pg_snapshot', 'txid_snapshot',
  'int4range', 'int8range', 'numrange', 'tsrange', 'tstzrange', 'daterange',
  'int4multirange', 'int8multirange', 'nummultirange', 'tsmultirange', 'tstzmultirange', 'datemultirange',
  'regclass', 'regtype', 'regproc', 'regprocedure', 'regoper', 'regoperator', 'regconfig', 'regdictionary', 'regnamespace', 'regrole', 'xid', 'xid8', 'cid', 'tid',
])
const PG_SUFFIXES = /^(?:with time zone|without time zone|year|month|day|hour|minute|second|year to month|day to hour|day to minute|day to second|hour to minute|hour to second|minute to second)$/
const PG_SUFFIX_WORDS = new Set(['with', 'without', 'time', 'zone', 'year', 'month', 'day', 'hour', 'minute', 'second', 'to'])

const MYSQL_NAMES = new Set([
  'tinyint', 'smallint', 'mediumint', 'int', 'integer', 'bigint', 'decimal', 'numeric', 'dec', 'fixed', 'float', 'double', 'double precision', 'real',
  'bit', 'bool', 'boolean', 'serial', 'date', 'datetime', 'timestamp', 'time', 'year', 'char', 'varchar', 'binary', 'varbinary', 'nchar', 'nvarchar',
  'tinyblob', 'blob', 'mediumblob', 'longblob', 'tinytext', 'text', 'mediumtext', 'longtext', 'enum', 'set', 'json',
  'geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection', 'uuid', 'inet4', 'inet6',
])
const MYSQL_SUFFIXES = /^(?:unsigned|signed|zerofill|unsigned zerofill|signed zerofill)?$/

/** Words that start a column constraint or clause in SQLite: a type name holding one would end early. */
const SQLITE_STOP_WORDS = new Set([
  'CONSTRAINT', 'PRIMARY', 'NOT', 'NULL', 'UNIQUE', 'CHECK', 'DEFAULT', 'COLLATE', 'REFERENCES', 'GENERATED', 'AS', 'ON', 'KEY',
  'AUTOINCREMENT', 'FOREIGN', 'SELECT', 'FROM', 'WHERE', 'AND', 'OR', 'ALWAYS', 'STORED', 'VIRTUAL', 'WITHOUT', 'STRICT', 'ROWID',
])

const NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/
const MAX_PARAM = 2_147_483_647

/** Parses `text` as a column type of `engine`. Throws SqlSyntaxError (with a short reason) when it is not one. */
export function parseType(text: string, engine: Dialect): SqlType {
  const tokens = new TokenStream(tokenize(text, engine))
  if (tokens.done) throw new SqlSyntaxError('empty type')
  const type = engine === 'postgres' ? parsePostgres(tokens) : engine === 'mysql' ? parseMysql(tokens) : parseSqlite(tokens)
  tokens.expectEnd()
  return type
}

/** The DDL text of a parsed type. */
export function emitType(type: SqlType): string {
  const dialect = type.engine
  let text = type.user
    ? (type.user.schema !== undefined ? `${quoteIdentifierFor(type.user.schema, dialect)}.` : '') + quoteIdentifierFor(type.user.name, dialect)
    : type.name
  if (type.labels) text += `(${type.labels.map((l) => quoteStringFor(l, dialect)).join(',')})`
  else if (type.params.length > 0) text += `(${type.params.join(',')})`
  if (type.suffix) text += ` ${type.suffix}`
  if (type.suffixParams && type.suffixParams.length > 0) text += `(${type.suffixParams.join(',')})`
  if (type.charset) text += ` CHARACTER SET ${type.charset}`
  if (type.collation) text += ` COLLATE ${type.collation}`
  return text + '[]'.repeat(type.arrayDims)
}

/** Parses and re-emits: the canonical text of a type, or SqlSyntaxError. */
export function normalizeType(text: string, engine: Dialect): string {
  return emitType(parseType(text, engine))
}

function parseParams(tokens: TokenStream, allowSigned: boolean): number[] {
  const params: number[] = []
  if (!tokens.acceptOp('(')) return params
  do {
    const negative = allowSigned && tokens.acceptOp('-')
    if (allowSigned && !negative) tokens.acceptOp('+')
    const token = tokens.next()
    if (token.kind !== 'number' || !/^\d+$/.test(token.text) || Number(token.text) > MAX_PARAM) {
      throw new SqlSyntaxError(`a type parameter must be a whole number, not ${JSON.stringify(token.text)}`)
    }
    params.push(negative ? -Number(token.text) : Number(token.text))
  } while (tokens.acceptOp(','))
  tokens.expectOp(')')
  if (params.length > 2) throw new SqlSyntaxError('a type takes at most two parameters')
  return params
}

function wordsWhile(tokens: TokenStream, accept: (word: string) => boolean): string[] {
  const words: string[] = []
  for (let token = tokens.peek(); token?.kind === 'word' && accept(token.text.toLowerCase()); token = tokens.peek()) {
    words.push(token.text.toLowerCase())
    tokens.next()
  }
  return words
}

function parsePostgres(tokens: TokenStream): SqlType {
  const first = tokens.peek()!
  let name = ''
  let user: SqlType['user']
  if (first.kind === 'ident' || (first.kind === 'word' && tokens.peek(1)?.kind === 'op' && tokens.peek(1)?.text === '.')) {
    user = parseQualifiedName(tokens)
  } else if (first.kind === 'word') {
    // The longest run of words that is a built-in name (`double precision`, `character varying`).
    const words = wordsWhile(tokens, (w) => PG_NAMES.has(w) || w === 'precision' || w === 'varying' || w === 'double' || w === 'character' || w === 'bit')
    name = words.join(' ')
    if (words.length === 0) {
      const word = tokens.next().text
      if (!NAME.test(word)) throw new SqlSyntaxError(`${JSON.stringify(word)} is not a type name`)
      user = { name: word }
    } else if (!PG_NAMES.has(name)) {
      throw new SqlSyntaxError(`${JSON.stringify(name)} is not a PostgreSQL type`)
    }
  } else {
    throw new SqlSyntaxError(`a type cannot start with ${JSON.stringify(first.text)}`)
  }
  const params = user ? [] : parseParams(tokens, false)
  const suffix = user ? '' : wordsWhile(tokens, (w) => PG_SUFFIX_WORDS.has(w)).join(' ')
  if (suffix && !PG_SUFFIXES.test(suffix)) throw new SqlSyntaxError(`"${suffix}" does not belong in a type`)
  if (suffix && !/^(?:time|timestamp|interval)$/.test(name)) throw new SqlSyntaxError(`"${name}" does not take "${suffix}"`)
  const suffixParams = suffix ? parseParams(tokens, false) : []
  let arrayDims = 0
  while (tokens.acceptOp('[')) {
    const size = tokens.peek()
    if (size?.kind === 'number' && /^\d+$/.test(size.text)) tokens.next()
    tokens.expectOp(']')
    arrayDims++
  }
  if (arrayDims > 6) throw new SqlSyntaxError('more than 6 array dimensions')
  return { engine: 'postgres', name, ...(user ? { user } : {}), params, suffix, ...(suffixParams.length > 0 ? { suffixParams } : {}), arrayDims }
}

/** `name`, `"Name"`, `schema.name`, `"schema"."Name"`. */
export function parseQualifiedName(tokens: TokenStream): { schema?: string; name: string } {
  const part = (): string => {
    const token = tokens.next()
    if (token.kind === 'ident') return token.text
    if (token.kind === 'word' && NAME.test(token.text)) return token.text.toLowerCase()
    throw new SqlSyntaxError(`${JSON.stringify(token.text)} is not a name`)
  }
  const first = part()
  if (tokens.acceptOp('.')) return { schema: first, name: part() }
  return { name: first }
}

function parseMysql(tokens: TokenStream): SqlType {
  const words = wordsWhile(tokens, (w) => MYSQL_NAMES.has(w) || w === 'precision')
  const name = words.join(' ')
  if (!MYSQL_NAMES.has(name)) throw new SqlSyntaxError(`${JSON.stringify(name || tokens.peek()?.text)} is not a MySQL type`)
  let params: number[] = []
  let labels: string[] | undefined
  if ((name === 'enum' || name === 'set') && tokens.acceptOp('(')) {
    labels = []
    do {
      const token = tokens.next()
      if (token.kind !== 'string' || token.prefix !== undefined) throw new SqlSyntaxError(`an ${name} label must be a string literal`)
      labels.push(token.text)
    } while (tokens.acceptOp(','))
    tokens.expectOp(')')
  } else {
    params = parseParams(tokens, false)
  }
  const suffix = wordsWhile(tokens, (w) => w === 'unsigned' || w === 'signed' || w === 'zerofill').join(' ')
  if (!MYSQL_SUFFIXES.test(suffix)) throw new SqlSyntaxError(`"${suffix}" does not belong in a type`)
  let charset: string | undefined
  let collation: string | undefined
  for (;;) {
    if (tokens.acceptWords('CHARACTER', 'SET') || tokens.acceptWord('CHARSET')) charset = plainName(tokens)
    else if (tokens.acceptWord('COLLATE')) collation = plainName(tokens)
    else break
  }
  return { engine: 'mysql', name, params, ...(labels ? { labels } : {}), suffix, ...(charset ? { charset } : {}), ...(collation ? { collation } : {}), arrayDims: 0 }
}

/** A character set or collation name: letters, digits and underscores only. */
function plainName(tokens: TokenStream): string {
  const token = tokens.next()
  if ((token.kind === 'word' || token.kind === 'ident' || token.kind === 'string') && /^[A-Za-z0-9_]{1,64}$/.test(token.text)) return token.text
  throw new SqlSyntaxError(`${JSON.stringify(token.text)} is not a character set or collation name`)
}

function parseSqlite(tokens: TokenStream): SqlType {
  const words: string[] = []
  for (let token = tokens.peek(); token?.kind === 'word'; token = tokens.peek()) {
    if (SQLITE_STOP_WORDS.has(token.text.toUpperCase())) throw new SqlSyntaxError(`"${token.text}" cannot be part of a type name`)
    words.push(token.text)
    tokens.next()
  }
  if (words.length === 0) throw new SqlSyntaxError(`${JSON.stringify(tokens.peek()?.text)} is not a type name`)
  if (words.length > 5) throw new SqlSyntaxError('a type name of more than five words')
  const params = parseParams(tokens, true)
  return { engine: 'sqlite', name: words.join(' '), params, suffix: '', arrayDims: 0 }
}
