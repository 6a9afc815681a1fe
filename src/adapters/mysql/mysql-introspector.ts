/**
 * Schema in and out: describing a MySQL/MariaDB database from information_schema, and the
 * CREATE TABLE statement that recreates a backed-up table.
 *
 * describe:
 * 1. base tables of the database (views and sequences are reported as warnings, not backed up);
 * 2. columns in ordinal order, with their exact COLUMN_TYPE and the wire kind (mysql-values);
 *    MariaDB's JSON is a LONGTEXT with a `json_valid(col)` CHECK: such a column is reported as
 *    type `json`, kind 'json';
 * 3. PRIMARY, UNIQUE and plain indexes from STATISTICS (in MySQL every unique index is a unique
 *    constraint, so they all go to `uniqueConstraints`); foreign keys from KEY_COLUMN_USAGE +
 *    REFERENTIAL_CONSTRAINTS;
 * 4. `SHOW CREATE TABLE` text as `options.definition`, with `engine`, `charset` and `collation`.
 *
 * createTableStatement: when the backup came from MySQL/MariaDB and carries `options.definition`,
 * that text is used as it is (minus plain indexes left out with `--no-indexes`), so the table
 * comes back exactly; otherwise the table is built from the column kinds (docs/adapters-mysql.md
 * has the kind → type table). The caller falls back from the first to the second when the server
 * rejects a definition written by another server version (e.g. a MySQL 8 collation on MariaDB).
 */
import type { RowDataPacket } from 'mysql2'
import type { Connection } from 'mysql2/promise'
import type { ColumnSchema, DatabaseSchema, Engine, ForeignKeySchema, IndexSchema, TableSchema } from '../adapter.js'
import { UsageError } from '../../errors.js'
import { sequenceOfDefault, type SequenceFields } from '../types/sequences.js'
import { mysqlTableTypes, uniqueObjectName } from '../types/type-mapping.js'
import { kindOfType, parseEnumLabels, quoteIdentifier, quoteString, typeClassOf } from './mysql-values.js'

/** Storage engines whose writes a ROLLBACK undoes and whose reads a snapshot covers. */
const TRANSACTIONAL_ENGINES = new Set(['innodb', 'xtradb', 'rocksdb', 'ndbcluster', 'ndb'])

interface TableRow extends RowDataPacket {
  name: string
  tableType: string
  engine: string | null
  collation: string | null
  comment: string | null
}

interface ColumnRow extends RowDataPacket {
  tableName: string
  name: string
  columnDefault: string | null
  nullable: string
  dataType: string
  columnType: string
  extra: string | null
  generation: string | null
}

interface IndexRow extends RowDataPacket {
  tableName: string
  indexName: string
  nonUnique: number | string
  columnName: string | null
  subPart: number | string | null
  indexType: string
}

interface ForeignKeyRow extends RowDataPacket {
  tableName: string
  name: string
  columnName: string
  referencedSchema: string
  referencedTable: string
  referencedColumn: string
  updateRule: string
  deleteRule: string
}

interface CheckRow extends RowDataPacket {
  tableName: string
  clause: string
}

/** A column's DEFAULT as SQL: MariaDB already reports an expression; MySQL reports the bare literal. */
function defaultExpression(row: ColumnRow, flavor: 'mariadb' | 'mysql'): string | null {
  const value = row.columnDefault
  if (value === null) return null
  if (flavor === 'mariadb') return value === 'NULL' ? null : value
  if (/DEFAULT_GENERATED/i.test(row.extra ?? '')) return /^current_timestamp/i.test(value) ? value : `(${value})`
  if (/^current_timestamp(\(\d*\))?$/i.test(value)) return value
  const cls = typeClassOf(row.columnType)
  if (cls === 'bit') return value
  return quoteString(value)
}

function describeColumn(row: ColumnRow, flavor: 'mariadb' | 'mysql', jsonColumns: Set<string>): ColumnSchema {
  const isJson = jsonColumns.has(`${row.tableName}\0${row.name}`) || row.dataType.toLowerCase() === 'json'
  const type = isJson ? 'json' : row.columnType
  const kind = kindOfType(type)
  const generated = row.generation ? row.generation : undefined
  return {
    name: row.name,
    type,
    kind,
    nullable: row.nullable === 'YES',
    default: generated ? null : defaultExpression(row, flavor),
    ...(/auto_increment/i.test(row.extra ?? '') ? { autoIncrement: true } : {}),
    ...(generated ? { generated } : {}),
    ...(kind === 'enum' ? { enumValues: parseEnumLabels(type) } : {}),
  }
}

function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>()
  for (const item of items) {
    const k = key(item)
    const group = groups.get(k)
    if (group) group.push(item)
    else groups.set(k, [item])
  }
  return groups
}

/** `CREATE [FULLTEXT|SPATIAL] INDEX name ON table (parts)`, parts with their prefix lengths. */
function indexDefinition(table: string, name: string, kind: string, parts: readonly string[]): string {
  const prefix = kind === 'FULLTEXT' ? 'CREATE FULLTEXT INDEX' : kind === 'SPATIAL' ? 'CREATE SPATIAL INDEX' : 'CREATE INDEX'
  return `${prefix} ${quoteIdentifier(name)} ON ${quoteIdentifier(table)} (${parts.join(', ')})`
}

/**
 * Describes the base tables of `database` (all of them, or those named in `tables`: an unknown
 * name is a UsageError). Called by the Source inside its snapshot and by the Destination.
 */
export async function describeDatabase(
  connection: Connection,
  database: string,
  flavor: 'mariadb' | 'mysql',
  options: { readonly tables?: readonly string[] } = {},
): Promise<DatabaseSchema> {
  const warnings: string[] = []
  const [tableRows] = await connection.query<TableRow[]>(
    `SELECT TABLE_NAME AS name, TABLE_TYPE AS tableType, ENGINE AS engine, TABLE_COLLATION AS collation, TABLE_COMMENT AS comment
       FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME`,
    [database],
  )
  const baseTables = tableRows.filter((t) => t.tableType === 'BASE TABLE' || t.tableType === 'SYSTEM VERSIONED')
  for (const t of tableRows) {
    if (!baseTables.includes(t) && t.tableType !== 'SEQUENCE') warnings.push(`${t.tableType.toLowerCase()} ${t.name} is not a table: not backed up.`)
  }
  let selected = baseTables
  if (options.tables) {
    const byName = new Map(baseTables.map((t) => [t.name, t]))
    const missing = options.tables.filter((name) => !byName.has(name))
    if (missing.length > 0) {
      throw new UsageError(
        `Table ${missing.map((n) => `"${n}"`).join(', ')} not found in database ${database}. It has: ${baseTables.map((t) => t.name).join(', ') || '(no tables)'}.`,
        { code: 'UNKNOWN_TABLE' },
      )
    }
    selected = options.tables.map((name) => byName.get(name) as TableRow).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }
  if (selected.length === 0) return { engine: 'mysql', database, tables: [], warnings }

  const [columnRows] = await connection.query<ColumnRow[]>(
    `SELECT TABLE_NAME AS tableName, COLUMN_NAME AS name, COLUMN_DEFAULT AS columnDefault, IS_NULLABLE AS nullable,
            DATA_TYPE AS dataType, COLUMN_TYPE AS columnType, EXTRA AS extra, GENERATION_EXPRESSION AS generation
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    [database],
  )
  const [indexRows] = await connection.query<IndexRow[]>(
    `SELECT TABLE_NAME AS tableName, INDEX_NAME AS indexName, NON_UNIQUE AS nonUnique, COLUMN_NAME AS columnName,
            SUB_PART AS subPart, INDEX_TYPE AS indexType
       FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX`,
    [database],
  )
  const [foreignKeyRows] = await connection.query<ForeignKeyRow[]>(
    `SELECT k.TABLE_NAME AS tableName, k.CONSTRAINT_NAME AS name, k.COLUMN_NAME AS columnName,
            k.REFERENCED_TABLE_SCHEMA AS referencedSchema, k.REFERENCED_TABLE_NAME AS referencedTable,
            k.REFERENCED_COLUMN_NAME AS referencedColumn, r.UPDATE_RULE AS updateRule, r.DELETE_RULE AS deleteRule
       FROM information_schema.KEY_COLUMN_USAGE k
       JOIN information_schema.REFERENTIAL_CONSTRAINTS r
         ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
      WHERE k.TABLE_SCHEMA = ? AND k.REFERENCED_TABLE_NAME IS NOT NULL
      ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION`,
    [database],
  )
  const jsonColumns = new Set<string>()
  if (flavor === 'mariadb') {
    // MariaDB's JSON type is LONGTEXT plus this column-level CHECK; nothing else tells them apart.
    const [checks] = await connection.query<CheckRow[]>(
      `SELECT TABLE_NAME AS tableName, CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS
        WHERE CONSTRAINT_SCHEMA = ? AND LEVEL = 'Column'`,
      [database],
    )
    for (const check of checks) {
      const column = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(check.clause.trim())?.[1]
      if (column) jsonColumns.add(`${check.tableName}\0${column.replace(/``/g, '`')}`)
    }
  }

  const sequencesByTable = await describeSequences(connection, database, tableRows, columnRows, new Set(selected.map((t) => t.name)), warnings)
  const columnsByTable = groupBy(columnRows, (r) => r.tableName)
  const indexesByTable = groupBy(indexRows, (r) => r.tableName)
  const foreignKeysByTable = groupBy(foreignKeyRows, (r) => r.tableName)
  const tables: TableSchema[] = []
  for (const t of selected) {
    const columns = (columnsByTable.get(t.name) ?? []).map((row) => describeColumn(row, flavor, jsonColumns))
    let primaryKey: string[] = []
    const uniqueConstraints: { name: string; columns: string[] }[] = []
    const indexes: IndexSchema[] = []
    for (const [indexName, parts] of groupBy(indexesByTable.get(t.name) ?? [], (r) => r.indexName)) {
      if (parts.some((p) => p.columnName === null)) {
        warnings.push(`${t.name}: index ${indexName} is on an expression; it is kept only in the table definition.`)
        continue
      }
      const names = parts.map((p) => p.columnName as string)
      const sqlParts = parts.map((p) => quoteIdentifier(p.columnName as string) + (p.subPart !== null ? `(${p.subPart})` : ''))
      if (indexName === 'PRIMARY') primaryKey = names
      else if (Number(parts[0].nonUnique) === 0) uniqueConstraints.push({ name: indexName, columns: names })
      else {
        const prefixes = Object.fromEntries(parts.filter((p) => p.subPart !== null).map((p) => [p.columnName as string, Number(p.subPart)]))
        indexes.push({
          name: indexName,
          columns: names,
          unique: false,
          definition: indexDefinition(t.name, indexName, parts[0].indexType, sqlParts),
          options: { type: parts[0].indexType, ...(Object.keys(prefixes).length > 0 ? { prefixLengths: prefixes } : {}) },
        })
      }
    }
    const foreignKeys: ForeignKeySchema[] = []
    for (const [name, parts] of groupBy(foreignKeysByTable.get(t.name) ?? [], (r) => r.name)) {
      if (parts[0].referencedSchema !== database) {
        warnings.push(`${t.name}: foreign key ${name} references another database (${parts[0].referencedSchema}); it is kept only in the table definition.`)
        continue
      }
      foreignKeys.push({
        name,
        columns: parts.map((p) => p.columnName),
        referencedTable: parts[0].referencedTable,
        referencedColumns: parts.map((p) => p.referencedColumn),
        onDelete: parts[0].deleteRule,
        onUpdate: parts[0].updateRule,
      })
    }
    const [created] = await connection.query<RowDataPacket[]>(`SHOW CREATE TABLE ${quoteIdentifier(t.name)}`)
    const sequences = sequencesByTable.get(t.name) ?? []
    const definition = unqualifySequences(String(created[0]['Create Table']), database, sequences)
    const engine = t.engine ?? ''
    if (!TRANSACTIONAL_ENGINES.has(engine.toLowerCase())) {
      warnings.push(`${t.name} uses the ${engine} engine, which has no transactions: it is not covered by the snapshot, and writes to it cannot be rolled back.`)
    }
    const storedGenerated = (columnsByTable.get(t.name) ?? []).filter((r) => r.generation && /STORED|PERSISTENT/i.test(r.extra ?? '')).map((r) => r.name)
    tables.push({
      name: t.name,
      columns,
      primaryKey,
      uniqueConstraints,
      indexes,
      foreignKeys,
      options: {
        engine,
        charset: /DEFAULT CHARSET=(\w+)/.exec(definition)?.[1] ?? t.collation?.replace(/_.*$/, ''),
        collation: /COLLATE=(\w+)/.exec(definition)?.[1] ?? t.collation,
        ...(t.comment ? { comment: t.comment } : {}),
        ...(storedGenerated.length > 0 ? { storedGenerated } : {}),
        ...(indexes.length > 0 ? { indexNames: indexes.map((i) => i.name) } : {}),
        ...(sequences.length > 0 ? { sequences } : {}),
        definition,
      },
    })
  }
  return { engine: 'mysql', database, tables, warnings }
}

// ---------------------------------------------------------------------------------------------
// CREATE TABLE

/** A statement that creates a table, and what it could not carry over exactly. */
export interface CreateTable {
  readonly sql: string
  readonly warnings: readonly string[]
}

/**
 * The backup's own `SHOW CREATE TABLE` text, without the plain indexes the backup no longer lists
 * (`--no-indexes` keeps the definition but empties `indexes`). `options.indexNames` holds the
 * indexes describe() put in `indexes`; others in the text (on expressions) are always kept.
 */
function definitionStatement(table: TableSchema, definition: string): string | undefined {
  if (!definition.startsWith(`CREATE TABLE ${quoteIdentifier(table.name)} (`)) return undefined
  const described = new Set((table.options?.indexNames as string[] | undefined) ?? [])
  const kept = new Set(table.indexes.map((i) => i.name))
  const out: string[] = []
  for (const line of definition.split('\n')) {
    const index = /^\s+(?:FULLTEXT |SPATIAL )?KEY `((?:[^`]|``)+)`/.exec(line)
    const name = index?.[1].replace(/``/g, '`')
    if (name !== undefined && described.has(name) && !kept.has(name)) continue
    out.push(line)
  }
  // Removing the last item of the column/key list leaves a dangling comma before ")".
  for (let i = out.length - 1; i > 0; i--) {
    if (out[i].startsWith(')')) {
      out[i - 1] = out[i - 1].replace(/,$/, '')
      break
    }
  }
  return out.join('\n')
}

/** ON DELETE/UPDATE rules InnoDB accepts. */
function referentialAction(rule: string | undefined): string | undefined {
  const normalized = rule?.trim().toUpperCase()
  return normalized && ['CASCADE', 'SET NULL', 'RESTRICT', 'NO ACTION'].includes(normalized) ? normalized : undefined
}

/**
 * The CREATE TABLE statement for a table of the backup. `sourceEngine` is the engine the backup
 * came from; with `useDefinition` a MySQL/MariaDB backup's own definition is used when it has one.
 */
export function createTableStatement(
  table: TableSchema,
  sourceEngine: Engine,
  useDefinition = true,
  context: { readonly tables?: readonly TableSchema[]; readonly usedNames?: Set<string> } = {},
): CreateTable {
  const definition = table.options?.definition
  if (useDefinition && sourceEngine === 'mysql' && typeof definition === 'string') {
    const sql = definitionStatement(table, definition)
    if (sql) return { sql, warnings: [] }
  }
  const warnings: string[] = []
  const warn = (message: string): void => {
    warnings.push(`${table.name}.${message}`)
  }
  const keyColumns = new Set([
    ...table.primaryKey,
    ...table.uniqueConstraints.flatMap((u) => u.columns),
    ...table.indexes.flatMap((i) => i.columns),
    ...table.foreignKeys.flatMap((f) => f.columns),
  ])
  const sameEngine = sourceEngine === 'mysql'
  const stored = new Set((table.options?.storedGenerated as string[] | undefined) ?? [])
  const lines: string[] = []
  let untyped = 0
  // Another engine's columns: the cross-engine mapping (foreign-key columns typed as their parents).
  const mapped = mysqlTableTypes(table, sourceEngine, context.tables ?? [table], warn)
  // Foreign key names are per database in MariaDB (per table elsewhere): make them unique.
  const usedNames = context.usedNames ?? new Set<string>()
  for (const column of table.columns) {
    const nativeType = sameEngine && column.type !== '' && typeClassOf(column.type) !== 'other'
    if (!nativeType && column.kind === 'unknown' && column.type === '') untyped++
    let type = nativeType ? column.type : mapped.get(column.name)!
    if (nativeType && keyColumns.has(column.name) && /^(tiny|medium|long)?(text|blob)$/i.test(column.type)) {
      type = /blob/i.test(column.type) ? 'VARBINARY(255)' : 'VARCHAR(255)'
      warn(`${column.name}: ${column.type} is part of a key; created as ${type}.`)
    }
    let line = `  ${quoteIdentifier(column.name)} ${type}`
    if (sameEngine && column.generated) {
      line += ` GENERATED ALWAYS AS (${column.generated}) ${stored.has(column.name) ? 'STORED' : 'VIRTUAL'}`
    } else {
      if (column.generated) warn(`${column.name}: a generated column of ${sourceEngine}; created as a plain column holding the backed-up values.`)
      if (!column.nullable) line += ' NOT NULL'
      if (sameEngine && column.default !== undefined && column.default !== null) line += ` DEFAULT ${column.default}`
      const integral = /INT|YEAR/i.test(type) && !/POINT/i.test(type)
      if ((column.autoIncrement || column.identity) && integral && keyColumns.has(column.name)) line += ' AUTO_INCREMENT'
      else if (!sameEngine && (column.autoIncrement || column.identity)) {
        warn(`${column.name}: takes its values from a sequence in ${sourceEngine}, but MariaDB numbers only an integer key column (AUTO_INCREMENT); created without a default.`)
      }
    }
    lines.push(line)
  }
  if (untyped > 0) {
    warnings.push(`${table.name}: the backup gives no column types (Smart Backup layout); ${untyped} column(s) created as LONGTEXT (VARCHAR(255) in keys).`)
  }
  const columnList = (columns: readonly string[]): string => columns.map(quoteIdentifier).join(', ')
  if (table.primaryKey.length > 0) lines.push(`  PRIMARY KEY (${columnList(table.primaryKey)})`)
  // Index names are per table in MariaDB; another engine's may be longer than 64 characters.
  const indexNames = new Set<string>(['primary'])
  const indexName = (name: string): string => (sameEngine ? name : uniqueObjectName(name || `${table.name}_key`, 'mysql', indexNames))
  for (const unique of table.uniqueConstraints) lines.push(`  UNIQUE KEY ${quoteIdentifier(indexName(unique.name))} (${columnList(unique.columns)})`)
  const columnNames = new Set(table.columns.map((c) => c.name))
  for (const index of table.indexes) {
    if (!sameEngine && (index.options?.expression || index.options?.partial || !index.columns.every((c) => columnNames.has(c)))) {
      warn(`${index.name}: an index on expressions or with a condition (${sourceEngine}); not created.`)
      continue
    }
    const kind = String(index.options?.type ?? '').toUpperCase()
    const prefix = index.unique ? 'UNIQUE KEY' : sameEngine && kind === 'FULLTEXT' ? 'FULLTEXT KEY' : sameEngine && kind === 'SPATIAL' ? 'SPATIAL KEY' : 'KEY'
    const prefixes = (sameEngine ? index.options?.prefixLengths : undefined) as Record<string, number> | undefined
    const parts = index.columns.map((c) => quoteIdentifier(c) + (prefixes?.[c] !== undefined ? `(${prefixes[c]})` : ''))
    lines.push(`  ${prefix} ${quoteIdentifier(indexName(index.name))} (${parts.join(', ')})`)
  }
  for (const fk of table.foreignKeys) {
    const fkName = sameEngine ? fk.name : uniqueObjectName(fk.name || `${table.name}_fk`, 'mysql', usedNames)
    if (fkName !== fk.name) warn(`${fk.name}: foreign key created as ${fkName} (MariaDB needs a name unique in the database, of at most 64 characters).`)
    let line = `  CONSTRAINT ${quoteIdentifier(fkName)} FOREIGN KEY (${columnList(fk.columns)}) REFERENCES ${quoteIdentifier(fk.referencedTable)} (${columnList(fk.referencedColumns)})`
    const onDelete = referentialAction(fk.onDelete)
    const onUpdate = referentialAction(fk.onUpdate)
    if (fk.onDelete && !onDelete) warn(`${fk.name}: ON DELETE ${fk.onDelete} is not supported by InnoDB; left out.`)
    if (fk.onUpdate && !onUpdate) warn(`${fk.name}: ON UPDATE ${fk.onUpdate} is not supported by InnoDB; left out.`)
    if (onDelete) line += ` ON DELETE ${onDelete}`
    if (onUpdate) line += ` ON UPDATE ${onUpdate}`
    lines.push(line)
  }
  const charset = sameEngine && typeof table.options?.charset === 'string' ? table.options.charset : 'utf8mb4'
  // Another engine compares text byte for byte (or by its own collation): a binary collation keeps
  // unique keys from colliding on case or accents.
  const collation = sameEngine && typeof table.options?.collation === 'string' ? table.options.collation : 'utf8mb4_bin'
  const engine = sameEngine && typeof table.options?.engine === 'string' && table.options.engine ? table.options.engine : 'InnoDB'
  const sql = `CREATE TABLE ${quoteIdentifier(table.name)} (\n${lines.join(',\n')}\n) ENGINE=${engine} DEFAULT CHARSET=${charset} COLLATE=${collation}`
  return { sql, warnings }
}

/**
 * MariaDB sequences that feed a column default of a selected table (issue #14): read from the
 * snapshot (`SELECT … FROM seq` reads its one row; nothing is consumed), carried per table in
 * `options.sequences`, and the default rewritten without the database name (`nextval(`seq`)`),
 * so that it names the sequence of whatever database it is restored into. Sequences no selected
 * table's default names, and sequences of another database, are named in warnings.
 */
async function describeSequences(
  connection: Connection,
  database: string,
  tableRows: readonly TableRow[],
  columnRows: ColumnRow[],
  selected: ReadonlySet<string>,
  warnings: string[],
): Promise<Map<string, SequenceFields[]>> {
  const byTable = new Map<string, SequenceFields[]>()
  const sequences = new Set(tableRows.filter((t) => t.tableType === 'SEQUENCE').map((t) => t.name))
  const read = new Map<string, SequenceFields>()
  for (const row of columnRows) {
    const named = sequenceOfDefault(row.columnDefault)
    if (!named || !selected.has(row.tableName)) continue
    if ((named.schema ?? database) !== database || !sequences.has(named.name)) {
      warnings.push(`Column ${row.tableName}.${row.name} takes its default from sequence ${named.schema ?? database}.${named.name} of another database: the sequence is not backed up.`)
      continue
    }
    let sequence = read.get(named.name)
    if (!sequence) {
      const [state] = await connection.query<RowDataPacket[]>(
        `SELECT CAST(start_value AS CHAR) AS start, CAST(increment AS CHAR) AS increment, CAST(minimum_value AS CHAR) AS \`minValue\`,
                CAST(maximum_value AS CHAR) AS \`maxValue\`, CAST(cache_size AS CHAR) AS cache, cycle_option AS \`cycle\`,
                CAST(next_not_cached_value AS CHAR) AS \`next\`, CAST(cycle_count AS CHAR) AS \`round\`
           FROM ${quoteIdentifier(database)}.${quoteIdentifier(named.name)}`,
      )
      const r = state[0] as Record<string, unknown>
      sequence = {
        name: named.name,
        start: String(r.start),
        increment: String(r.increment),
        minValue: String(r.minValue),
        maxValue: String(r.maxValue),
        cache: String(r.cache),
        cycle: Number(r.cycle) === 1,
        next: String(r.next),
        round: String(r.round),
      }
      read.set(named.name, sequence)
    }
    const list = byTable.get(row.tableName) ?? []
    if (!list.some((s) => s.name === sequence.name)) list.push(sequence)
    byTable.set(row.tableName, list)
    row.columnDefault = `nextval(${quoteIdentifier(named.name)})`
  }
  for (const name of sequences) {
    if (!read.has(name)) warnings.push(`sequence ${name} is not a table, and no backed-up column's default uses it: not backed up.`)
  }
  return byTable
}

/** SHOW CREATE TABLE names a sequence of a default with its database: the backup's text names it alone. */
function unqualifySequences(definition: string, database: string, sequences: readonly SequenceFields[]): string {
  let out = definition
  for (const s of sequences) out = out.split(`nextval(${quoteIdentifier(database)}.${quoteIdentifier(s.name)})`).join(`nextval(${quoteIdentifier(s.name)})`)
  return out
}
