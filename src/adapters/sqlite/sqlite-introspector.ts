/**
 * Describes a SQLite database as mergeback's `DatabaseSchema`.
 *
 * Sources, all read inside the caller's transaction (so a Source describes its snapshot):
 * - `PRAGMA table_list`: ordinary tables (virtual tables are skipped with a warning; their
 *   shadow tables and `sqlite_%` internals are skipped silently; views are not data);
 * - `sqlite_schema`: each table's CREATE TABLE text (`options.sql`, used verbatim to recreate it
 *   in SQLite), its indexes' CREATE INDEX text (`definition`) and its triggers (`options.triggers`);
 * - `PRAGMA table_xinfo`: columns, declared types (kept verbatim in `type`), NOT NULL, defaults,
 *   primary-key positions, generated columns (hidden 2 = virtual, 3 = stored; their expression
 *   is read from the CREATE TABLE text, which is the only place SQLite keeps it);
 * - `PRAGMA index_list` / `index_xinfo`: unique constraints (origin 'u'), indexes (origin 'c');
 * - `PRAGMA foreign_key_list`: foreign keys (a missing `to` means the parent's primary key);
 * - `sqlite_sequence`: the AUTOINCREMENT counter (`options.sequence`), so a restore never hands
 *   out an id that was used and deleted before.
 *
 * Kinds follow sqlite-values.ts (`kindOf`). An `INTEGER PRIMARY KEY` of a rowid table is an alias
 * of the rowid: `autoIncrement`. SQLite does not keep the names of UNIQUE and FOREIGN KEY
 * constraints, so they are named as PostgreSQL would (`<table>_<columns>_key` / `_fkey`).
 */
import fs from 'node:fs'
import type { ColumnSchema, DatabaseSchema, DatabaseStats, ForeignKeySchema, IndexSchema, TableSchema } from '../adapter.js'
import { UsageError } from '../../errors.js'
import { quoteIdent, type SqliteDatabase } from './sqlite-connection.js'
import { affinityOf, kindOf, type Affinity } from './sqlite-values.js'
import { parseVirtualTable, VirtualTableError, type VirtualTableDefinition } from '../types/virtual-tables.js'

/** SQLite-specific facts kept in `TableSchema.options`. */
export interface SqliteTableOptions {
  /** The CREATE TABLE statement as SQLite keeps it. */
  readonly sql: string
  readonly withoutRowid: boolean
  readonly strict: boolean
  /** CREATE TRIGGER statements on this table. */
  readonly triggers: readonly string[]
  /** The AUTOINCREMENT counter, for tables declared with AUTOINCREMENT. */
  readonly sequence?: string
  /** An FTS5 or R*Tree table holding its own rows: its definition as fields (no `sql`). */
  readonly virtual?: VirtualTableDefinition
}

/** A column as the destination needs it to bind values. */
export interface SqliteColumnInfo {
  readonly name: string
  readonly type: string
  readonly affinity: Affinity
  readonly schema: ColumnSchema
  /** Generated columns are never written. */
  readonly generated: boolean
  readonly notNull: boolean
  readonly defaultSql: string | null
}

/** A table as the destination needs it: the portable schema plus what binding and conflicts need. */
export interface SqliteTableInfo {
  readonly schema: TableSchema
  readonly columns: readonly SqliteColumnInfo[]
  readonly byName: ReadonlyMap<string, SqliteColumnInfo>
  readonly withoutRowid: boolean
  /**
   * The key a restore skips on: the primary key, else a unique index over NOT NULL columns
   * (`ON CONFLICT (…) DO NOTHING` target, with each column's collation). Undefined: no key.
   */
  readonly conflictKey?: { readonly columns: readonly string[]; readonly collations: readonly string[] }
  /** A carried virtual table (FTS5, R*Tree): no UPSERT, no triggers, no indexes. */
  readonly virtual?: VirtualTableDefinition
}

interface TableListRow {
  schema: string
  name: string
  type: string
  wr: bigint
  strict: bigint
}

interface XInfoRow {
  cid: bigint
  name: string
  type: string
  notnull: bigint
  dflt_value: string | null
  pk: bigint
  hidden: bigint
}

interface IndexListRow {
  seq: bigint
  name: string
  unique: bigint
  origin: string
  partial: bigint
}

interface IndexXInfoRow {
  seqno: bigint
  cid: bigint
  name: string | null
  desc: bigint
  coll: string
  key: bigint
}

interface ForeignKeyRow {
  id: bigint
  seq: bigint
  table: string
  from: string
  to: string | null
  on_update: string
  on_delete: string
}

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/** The tables of the main database: ordinary ones to back up, and virtual ones to warn about. */
export function listTables(db: SqliteDatabase): { tables: TableListRow[]; virtual: string[] } {
  const rows = db.prepare('PRAGMA main.table_list').all() as TableListRow[]
  const tables = rows.filter((r) => r.type === 'table' && !r.name.startsWith('sqlite_')).sort(byName)
  const virtual = rows.filter((r) => r.type === 'virtual').map((r) => r.name).sort()
  return { tables, virtual }
}

/**
 * For an FTS3/4/5 virtual table, the table its content option names ('' when contentless);
 * undefined for one that holds its own content, and for any other virtual table.
 */
export function fullTextContent(db: SqliteDatabase, name: string): { module?: string; content?: string } {
  const row = db.prepare(`SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?`).get(name) as { sql: string | null } | undefined
  const sql = row?.sql ?? ''
  const module = /\bUSING\s+(fts[345])\s*\(/i.exec(sql)?.[1]?.toLowerCase()
  if (!module) return {}
  const option = /\bcontent\s*=\s*('(?:[^']|'')*'|"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_]*)/i.exec(sql)?.[1]
  if (option === undefined) return { module }
  const content = /^['"]/.test(option) ? option.slice(1, -1).replace(option[0] === "'" ? /''/g : /""/g, option[0]!) : option
  return { module, content }
}

/**
 * A virtual table mergeback backs up like a table: an FTS5 table holding its own content or an
 * R*Tree, whose definition reads into checked fields (virtual-tables.ts). Otherwise the reason.
 */
export function carriedVirtualTable(db: SqliteDatabase, name: string): VirtualTableDefinition | string {
  const { module, content } = fullTextContent(db, name)
  if (module !== undefined && content !== undefined) return content === '' ? 'a contentless full-text index' : `a full-text index of table "${content}"`
  const sql = (db.prepare(`SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?`).get(name) as { sql: string | null } | undefined)?.sql ?? ''
  try {
    return parseVirtualTable(sql)
  } catch (error) {
    if (error instanceof VirtualTableError) return error.message
    throw error
  }
}

/**
 * Describes the database (or only `tables`; a name that is not an ordinary table is a
 * UsageError). Runs inside the caller's transaction.
 */
export function describeDatabase(db: SqliteDatabase, database: string, options: { readonly tables?: readonly string[] } = {}): DatabaseSchema {
  const listed = db.prepare('PRAGMA main.table_list').all() as TableListRow[]
  const warnings: string[] = []
  const carried = new Map<string, VirtualTableDefinition>()
  const notCarried: { name: string; why: string }[] = []
  for (const row of listed.filter((r) => r.type === 'virtual' && r.schema === 'main').sort(byName)) {
    const definition = carriedVirtualTable(db, row.name)
    if (typeof definition === 'string') notCarried.push({ name: row.name, why: definition })
    else carried.set(row.name, definition)
  }
  const tables = listed.filter((r) => r.schema === 'main' && ((r.type === 'table' && !r.name.startsWith('sqlite_')) || carried.has(r.name))).sort(byName)
  let selected = tables
  if (options.tables) {
    const known = new Map(tables.map((t) => [t.name, t]))
    for (const name of options.tables) {
      const virtual = notCarried.find((v) => v.name === name)
      if (virtual) {
        throw new UsageError(`Table "${name}" of ${database} is a virtual table mergeback does not back up (${virtual.why}).`, { code: 'UNKNOWN_TABLE' })
      }
      if (!known.has(name)) {
        const names = tables.map((t) => t.name)
        throw new UsageError(`Table "${name}" does not exist in ${database}. It has: ${names.length ? names.join(', ') : '(no tables)'}.`, {
          code: 'UNKNOWN_TABLE',
        })
      }
    }
    const wanted = new Set(options.tables)
    selected = tables.filter((t) => wanted.has(t.name))
  } else {
    for (const v of notCarried) {
      const { content } = fullTextContent(db, v.name)
      warnings.push(
        content === ''
          ? `Virtual table "${v.name}" is a contentless full-text index: not backed up (its shadow tables neither); rebuild it from the rows it indexes after a restore into an empty database.`
          : content !== undefined
            ? `Virtual table "${v.name}" is a full-text index of table "${content}": not backed up (its shadow tables neither); a restore into a database that has it rebuilds it, one into an empty database does not create it.`
            : `Virtual table "${v.name}" is NOT backed up, nor its rows (${v.why}): copy it separately (e.g. sqlite3 .dump ${v.name}).`,
      )
    }
  }
  return {
    engine: 'sqlite',
    database,
    tables: selected.map((t) => (readTableInfo(db, t.name, t) as SqliteTableInfo).schema),
    warnings,
  }
}

/** Full information on one table, or undefined when there is no such ordinary table. */
export function readTableInfo(db: SqliteDatabase, name: string, listed?: TableListRow): SqliteTableInfo | undefined {
  const entry = listed ?? (db.prepare('PRAGMA main.table_list(' + quoteIdentForPragma(name) + ')').all() as TableListRow[]).find(
    (r) => r.schema === 'main' && (r.type === 'table' || r.type === 'virtual'),
  )
  if (!entry) return undefined
  if (entry.type === 'virtual') {
    const definition = carriedVirtualTable(db, entry.name)
    return typeof definition === 'string' ? undefined : virtualTableInfo(db, entry.name, definition)
  }
  // SQLite table names are case-insensitive: "user" finds "User". From here on, the stored spelling.
  name = entry.name
  const sql = (db.prepare(`SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?`).get(name) as { sql: string } | undefined)?.sql ?? ''
  const withoutRowid = entry.wr === 1n
  const xinfo = (db.prepare(`PRAGMA main.table_xinfo(${quoteIdentForPragma(name)})`).all() as XInfoRow[]).filter((c) => c.hidden !== 1n)
  const indexList = db.prepare(`PRAGMA main.index_list(${quoteIdentForPragma(name)})`).all() as IndexListRow[]
  const generatedExpressions = xinfo.some((c) => c.hidden === 2n || c.hidden === 3n) ? generatedColumnExpressions(sql) : new Map<string, string>()

  const primaryKey = xinfo.filter((c) => c.pk > 0n).sort((a, b) => Number(a.pk - b.pk)).map((c) => c.name)
  const hasPkIndex = indexList.some((i) => i.origin === 'pk')
  const rowidAlias =
    !withoutRowid && primaryKey.length === 1 && !hasPkIndex ? primaryKey[0] : undefined

  const columns: SqliteColumnInfo[] = xinfo.map((c) => {
    const generated = c.hidden === 2n || c.hidden === 3n
    const isKey = c.pk > 0n
    const schema: ColumnSchema = {
      name: c.name,
      type: c.type,
      kind: kindOf(c.type),
      // A rowid alias and the key of a WITHOUT ROWID table can never be NULL, whatever NOT NULL says.
      nullable: c.notnull === 0n && !(isKey && (withoutRowid || c.name === rowidAlias)),
      ...(c.dflt_value !== null ? { default: c.dflt_value } : {}),
      ...(c.name === rowidAlias ? { autoIncrement: true } : {}),
      ...(generated ? { generated: generatedExpressions.get(c.name) ?? '(expression not readable)' } : {}),
    }
    return {
      name: c.name,
      type: c.type,
      affinity: affinityOf(c.type),
      schema,
      generated,
      notNull: c.notnull !== 0n,
      defaultSql: c.dflt_value,
    }
  })
  const columnByName = new Map(columns.map((c) => [c.name, c]))

  const uniqueConstraints: { name: string; columns: string[] }[] = []
  const indexes: IndexSchema[] = []
  let conflictKey: SqliteTableInfo['conflictKey']
  const pkIndex = indexList.find((i) => i.origin === 'pk')
  if (primaryKey.length > 0) {
    const collations = pkIndex ? indexKeyColumns(db, pkIndex.name).map((k) => k.coll) : primaryKey.map(() => 'BINARY')
    conflictKey = { columns: primaryKey, collations }
  }
  for (const index of [...indexList].sort(byName)) {
    if (index.origin === 'pk') continue
    const keyColumns = indexKeyColumns(db, index.name)
    const named = keyColumns.filter((k) => k.cid >= 0n && k.name !== null).map((k) => k.name as string)
    const hasExpression = keyColumns.some((k) => k.cid < 0n || k.name === null)
    if (index.origin === 'u') {
      uniqueConstraints.push({ name: `${name}_${named.join('_')}_key`, columns: named })
    } else {
      const definition = (db.prepare(`SELECT sql FROM main.sqlite_schema WHERE type = 'index' AND name = ?`).get(index.name) as { sql: string | null } | undefined)?.sql
      const options: Record<string, unknown> = {}
      if (index.partial === 1n) options.partial = true
      if (hasExpression) options.expression = true
      indexes.push({
        name: index.name,
        columns: named,
        unique: index.unique === 1n,
        ...(definition ? { definition } : {}),
        ...(Object.keys(options).length > 0 ? { options } : {}),
      })
    }
    if (
      !conflictKey &&
      index.unique === 1n &&
      index.partial === 0n &&
      !hasExpression &&
      named.every((n) => columnByName.get(n)?.notNull)
    ) {
      conflictKey = { columns: named, collations: keyColumns.map((k) => k.coll) }
    }
  }

  const foreignKeys = readForeignKeys(db, name)
  const triggers = (db.prepare(`SELECT sql FROM main.sqlite_schema WHERE type = 'trigger' AND tbl_name = ? ORDER BY name`).all(name) as { sql: string }[]).map(
    (t) => t.sql,
  )
  let sequence: string | undefined
  if (/\bAUTOINCREMENT\b/i.test(sql)) {
    // "0" when nothing was ever inserted: the table is still AUTOINCREMENT (a restore from
    // columns only, of a file made elsewhere, declares it so from this).
    const row = tableExists(db, 'sqlite_sequence')
      ? (db.prepare('SELECT seq FROM main.sqlite_sequence WHERE name = ?').get(name) as { seq: bigint | number | null } | undefined)
      : undefined
    sequence = row?.seq !== null && row?.seq !== undefined ? String(row.seq) : '0'
  }
  const options: SqliteTableOptions = { sql, withoutRowid, strict: entry.strict === 1n, triggers, ...(sequence !== undefined ? { sequence } : {}) }

  const schema: TableSchema = {
    name,
    columns: columns.map((c) => c.schema),
    primaryKey,
    uniqueConstraints,
    indexes,
    foreignKeys,
    options: options as unknown as Record<string, unknown>,
  }
  return { schema, columns, byName: columnByName, withoutRowid, ...(conflictKey ? { conflictKey } : {}) }
}

/** A carried virtual table as a table: its visible columns (FTS5's hidden ones and rank left out); an R*Tree's key is its id. */
function virtualTableInfo(db: SqliteDatabase, name: string, definition: VirtualTableDefinition): SqliteTableInfo {
  const xinfo = (db.prepare(`PRAGMA main.table_xinfo(${quoteIdentForPragma(name)})`).all() as XInfoRow[]).filter((c) => c.hidden === 0n)
  const key = definition.module === 'fts5' ? undefined : definition.columns[0]
  const columns: SqliteColumnInfo[] = xinfo.map((c) => ({
    name: c.name,
    type: c.type,
    affinity: affinityOf(c.type),
    schema: { name: c.name, type: c.type, kind: kindOf(c.type), nullable: c.name !== key },
    generated: false,
    notNull: c.name === key,
    defaultSql: null,
  }))
  const options: SqliteTableOptions = { sql: '', withoutRowid: false, strict: false, triggers: [], virtual: definition }
  const { sql: _noText, ...fields } = options
  const schema: TableSchema = {
    name,
    columns: columns.map((c) => c.schema),
    primaryKey: key !== undefined ? [key] : [],
    uniqueConstraints: [],
    indexes: [],
    foreignKeys: [],
    options: fields as unknown as Record<string, unknown>,
  }
  return {
    schema,
    columns,
    byName: new Map(columns.map((c) => [c.name, c])),
    withoutRowid: false,
    virtual: definition,
    ...(key !== undefined ? { conflictKey: { columns: [key], collations: ['BINARY'] } } : {}),
  }
}

function indexKeyColumns(db: SqliteDatabase, index: string): IndexXInfoRow[] {
  return (db.prepare(`PRAGMA main.index_xinfo(${quoteIdentForPragma(index)})`).all() as IndexXInfoRow[])
    .filter((k) => k.key === 1n)
    .sort((a, b) => Number(a.seqno - b.seqno))
}

/** Foreign keys of a table in DDL order; a reference without columns names the parent's primary key. */
export function readForeignKeys(db: SqliteDatabase, table: string): ForeignKeySchema[] {
  return readForeignKeyList(db, table).map((k) => k.key)
}

/** Like readForeignKeys, with SQLite's id of each key (the `fkid` of `PRAGMA foreign_key_check`). */
export function readForeignKeyList(db: SqliteDatabase, table: string): { id: number; key: ForeignKeySchema }[] {
  const rows = db.prepare(`PRAGMA main.foreign_key_list(${quoteIdentForPragma(table)})`).all() as ForeignKeyRow[]
  const groups = new Map<bigint, ForeignKeyRow[]>()
  for (const row of rows) groups.set(row.id, [...(groups.get(row.id) ?? []), row])
  const keys: { id: number; key: ForeignKeySchema }[] = []
  for (const [id, group] of [...groups].sort((a, b) => Number(a[0] - b[0]))) {
    group.sort((a, b) => Number(a.seq - b.seq))
    const parent = group[0].table
    const columns = group.map((r) => r.from)
    let referencedColumns = group.map((r) => r.to)
    if (referencedColumns.some((c) => c === null)) {
      const parentKey = (db.prepare(`PRAGMA main.table_xinfo(${quoteIdentForPragma(parent)})`).all() as XInfoRow[])
        .filter((c) => c.pk > 0n)
        .sort((a, b) => Number(a.pk - b.pk))
        .map((c) => c.name)
      referencedColumns = parentKey.length === columns.length ? parentKey : columns
    }
    keys.push({
      id: Number(id),
      key: {
        name: `${table}_${columns.join('_')}_fkey`,
        columns,
        referencedTable: parent,
        referencedColumns: referencedColumns as string[],
        onDelete: group[0].on_delete,
        onUpdate: group[0].on_update,
      },
    })
  }
  // foreign_key_list numbers the keys in reverse of the DDL; the backup file keeps DDL order.
  return keys.reverse()
}

/** Is there a table (including internal ones) with this name in the main database? */
export function tableExists(db: SqliteDatabase, name: string): boolean {
  return db.prepare(`SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = ?`).get(name) !== undefined
}

/** PRAGMA arguments take an identifier or a string; a string literal is the form that any name survives. */
function quoteIdentForPragma(name: string): string {
  return `'${name.replaceAll("'", "''")}'`
}

/**
 * Database size, SQLite version and per-table row counts and sizes (table plus its indexes, from
 * the `dbstat` virtual table). Runs inside the caller's transaction.
 */
export function readStats(db: SqliteDatabase, file: string, database: string): DatabaseStats {
  const version = (db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v
  const { tables } = listTables(db)
  const bytesByObject = new Map<string, number>()
  const owner = new Map<string, string>()
  for (const row of db.prepare(`SELECT name, tbl_name FROM main.sqlite_schema WHERE type IN ('table', 'index')`).all() as { name: string; tbl_name: string }[]) {
    owner.set(row.name, row.tbl_name)
  }
  for (const row of db.prepare(`SELECT name, pgsize FROM dbstat('main', 1)`).all() as { name: string; pgsize: bigint }[]) {
    const table = owner.get(row.name) ?? row.name
    bytesByObject.set(table, (bytesByObject.get(table) ?? 0) + Number(row.pgsize))
  }
  let sizeBytes: number | null = null
  try {
    sizeBytes = fs.statSync(file).size
  } catch {
    // The file vanished under us: the snapshot still answers, only its size is unknown.
    sizeBytes = null
  }
  return {
    engine: 'sqlite',
    database,
    version,
    sizeBytes,
    tables: tables.map((t) => ({
      name: t.name,
      rows: Number((db.prepare(`SELECT count(*) AS n FROM main.${quoteIdent(t.name)}`).get() as { n: bigint }).n),
      sizeBytes: bytesByObject.get(t.name) ?? 0,
    })),
  }
}

// ---------------------------------------------------------------------------------------------
// Generated-column expressions. SQLite keeps them only in the CREATE TABLE text, so that text is
// scanned: split the column list at top-level commas, and in each column definition take the
// parenthesized expression after a top-level AS (`[GENERATED ALWAYS] AS (expr)`).

interface Token {
  readonly text: string
  readonly kind: 'word' | 'quoted' | 'string' | 'punct'
  readonly start: number
  readonly end: number
}

/** Splits SQL into tokens, skipping whitespace and comments. Quoted identifiers keep their quotes. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < sql.length) {
    const c = sql[i]
    if (/\s/.test(c)) {
      i++
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i)
      i = end === -1 ? sql.length : end + 1
    } else if (c === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2)
      i = end === -1 ? sql.length : end + 2
    } else if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c
      let j = i + 1
      while (j < sql.length) {
        if (sql[j] === close) {
          if (close !== ']' && sql[j + 1] === close) j += 2
          else break
        } else j++
      }
      tokens.push({ text: sql.slice(i, j + 1), kind: c === "'" ? 'string' : 'quoted', start: i, end: j + 1 })
      i = j + 1
    } else if (/[A-Za-z0-9_$\u0080-\uffff]/.test(c)) {
      let j = i + 1
      while (j < sql.length && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[j])) j++
      tokens.push({ text: sql.slice(i, j), kind: 'word', start: i, end: j })
      i = j
    } else {
      tokens.push({ text: c, kind: 'punct', start: i, end: i + 1 })
      i++
    }
  }
  return tokens
}

function unquote(token: Token): string {
  if (token.kind !== 'quoted') return token.text
  const quote = token.text[0]
  const inner = token.text.slice(1, -1)
  return quote === '[' ? inner : inner.replaceAll(quote + quote, quote)
}

/** Column name → generated expression, read from a CREATE TABLE statement. */
export function generatedColumnExpressions(sql: string): Map<string, string> {
  const result = new Map<string, string>()
  const tokens = tokenize(sql)
  const open = tokens.findIndex((t) => t.text === '(')
  if (open === -1) return result
  // Split the column list into definitions at depth-1 commas.
  const definitions: Token[][] = []
  let current: Token[] = []
  let depth = 0
  for (let i = open; i < tokens.length; i++) {
    const t = tokens[i]
    if (t.text === '(') {
      depth++
      if (depth === 1) continue
    } else if (t.text === ')') {
      depth--
      if (depth === 0) {
        definitions.push(current)
        break
      }
    } else if (t.text === ',' && depth === 1) {
      definitions.push(current)
      current = []
      continue
    }
    current.push(t)
  }
  for (const definition of definitions) {
    if (definition.length === 0) continue
    const first = definition[0].text.toUpperCase()
    if (definition[0].kind === 'word' && ['CONSTRAINT', 'PRIMARY', 'UNIQUE', 'CHECK', 'FOREIGN'].includes(first)) continue
    const column = unquote(definition[0])
    let level = 0
    for (let i = 1; i < definition.length; i++) {
      const t = definition[i]
      if (t.text === '(') level++
      else if (t.text === ')') level--
      else if (level === 0 && t.kind === 'word' && t.text.toUpperCase() === 'AS' && definition[i + 1]?.text === '(') {
        let inner = 0
        for (let j = i + 1; j < definition.length; j++) {
          if (definition[j].text === '(') inner++
          else if (definition[j].text === ')' && --inner === 0) {
            result.set(column, sql.slice(definition[i + 1].end, definition[j].start).trim())
            break
          }
        }
        break
      }
    }
  }
  return result
}

/**
 * Is `sql` one plain `CREATE [UNIQUE] INDEX | TABLE | TRIGGER` statement for `name` (and, for an
 * index or trigger, on `table`)? Guards the statements a backup file carries before they are run
 * to recreate a table: `CREATE TABLE … AS SELECT`, TEMP objects and other names are refused.
 */
export function isPlainCreate(sql: string, object: 'table' | 'index' | 'trigger', name: string, table?: string): boolean {
  const tokens = tokenize(sql)
  const word = (i: number): string => (tokens[i]?.kind === 'word' ? tokens[i].text.toUpperCase() : '')
  const sameName = (token: Token | undefined, expected: string): boolean =>
    token !== undefined && (token.kind === 'word' || token.kind === 'quoted') && asciiLower(unquote(token)) === asciiLower(expected)
  let i = 0
  if (word(i++) !== 'CREATE') return false
  if (object === 'index' && word(i) === 'UNIQUE') i++
  if (word(i++) !== object.toUpperCase()) return false
  if (word(i) === 'IF' && word(i + 1) === 'NOT' && word(i + 2) === 'EXISTS') i += 3
  if (tokens[i + 1]?.text === '.') {
    if (asciiLower(unquote(tokens[i])) !== 'main') return false
    i += 2
  }
  if (!sameName(tokens[i++], name)) return false
  if (object === 'table') return tokens[i]?.text === '('
  const on = tokens.findIndex((t, j) => j >= i && t.kind === 'word' && t.text.toUpperCase() === 'ON')
  if (on === -1) return false
  return table === undefined || sameName(tokens[on + 1], table)
}

/** SQLite folds identifiers' case for ASCII letters only. */
export function asciiLower(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase())
}
