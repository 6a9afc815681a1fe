/**
 * SQL text for the PostgreSQL adapter: identifier and literal quoting, the COPY text-format
 * escaping both directions rely on, and the DDL a restore runs to recreate tables.
 *
 * Everything the adapter sends is built from these, so a table called `Audit Log` or a column
 * called `select"1` is always quoted, and no value is ever spliced into SQL unquoted.
 *
 * @module
 */
import { sequenceOfDefault } from '../types/sequences.js'
import type { ColumnSchema, Engine, ForeignKeySchema, IndexSchema, TableSchema } from '../adapter.js'
import { portableDefault, postgresColumnType, postgresEnumTypeName } from '../types/type-mapping.js'

/** `"name"` with embedded quotes doubled. Always quotes, so case and spaces survive. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}

/** `"schema"."table"`. */
export function qualify(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`
}

/**
 * A standard-conforming string literal (`'it''s'`). The session always runs with
 * `standard_conforming_strings = on` (the default since 9.1, and set explicitly on connect), so
 * backslashes need no escaping.
 */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`
}

const COPY_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' }

/**
 * Escapes one field for COPY … FROM STDIN in text format: backslash, newline, carriage return
 * and tab are the only bytes that would be misread; everything else (including all non-ASCII
 * text) passes as it is.
 */
export function escapeCopyText(value: string): string {
  return /[\\\n\r\t]/.test(value) ? value.replace(/[\\\n\r\t]/g, (c) => COPY_ESCAPES[c]) : value
}

const COPY_UNESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', b: '\b', f: '\f', v: '\v' }

/**
 * Reverses COPY … TO STDOUT text-format escaping for one field (not `\N`, which the caller
 * treats as NULL first). PostgreSQL writes `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, `\v`; any other
 * escaped character stands for itself.
 */
export function unescapeCopyText(field: string): string {
  if (field.indexOf('\\') === -1) return field
  return field.replace(/\\(.)/gs, (_, c: string) => COPY_UNESCAPES[c] ?? c)
}

// ---------------------------------------------------------------------------------------------
// DDL for restore: recreating a backed-up table in PostgreSQL.
//
// A backup made from PostgreSQL carries exact types (`format_type`), default expressions and
// index definitions (`pg_get_indexdef`); those are replayed as they are, with serial columns
// recreated as serial and identity columns as identity (their sequences are moved past the data
// in finish()). A backup from another engine carries portable kinds; the column type is chosen
// from the kind (and the source type's size where it helps), and only plain literal defaults are
// kept.
// ---------------------------------------------------------------------------------------------

/** The statements that create one table, and what could not be recreated exactly. */
export interface TableDdl {
  /** CREATE TABLE, then CHECK constraints, then indexes: run in this order. */
  readonly statements: readonly string[]
  /**
   * With `keysAfterData`: the primary key, unique constraints and indexes, to run once the
   * table holds its rows (building an index once is cheaper than updating it row by row; what
   * pg_restore does). Empty otherwise: they are in `statements`.
   */
  readonly afterData: readonly string[]
  readonly warnings: readonly string[]
}

const SERIAL_TYPES: Readonly<Record<string, string>> = { integer: 'serial', bigint: 'bigserial', smallint: 'smallserial' }

/** The name of the enum type a column from an engine without named enums (MySQL) gets. */
export const enumTypeName = postgresEnumTypeName

/**
 * The PostgreSQL type for a backed-up column. PostgreSQL backups keep their exact type; other
 * engines' columns get theirs from the cross-engine mapping (src/adapters/types/type-mapping.ts).
 */
export function columnType(column: ColumnSchema, table: string, engine: Engine): string {
  return postgresColumnType(column, table, engine)
}

/** One column of CREATE TABLE. */
function columnDefinition(column: ColumnSchema, table: string, engine: Engine, warnings: string[]): string {
  let type = columnType(column, table, engine)
  let tail = ''
  const where = `"${table}"."${column.name}"`
  if (column.generated !== undefined && engine === 'postgres') {
    tail = ` GENERATED ALWAYS AS (${column.generated}) STORED`
  } else if (column.identity) {
    tail = ` GENERATED ${column.identity === 'always' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`
  } else if (column.autoIncrement || (engine === 'mysql' && sequenceOfDefault(column.default) !== undefined)) {
    // A MariaDB `NEXT VALUE FOR seq` default maps to an identity column, which finish() moves past the data.
    if (!column.autoIncrement) warnings.push(`Column ${where} took its default from MariaDB sequence ${sequenceOfDefault(column.default)!.name}: it is created as an identity column continuing after the highest restored value.`)
    if (engine !== 'postgres') {
      tail = ' GENERATED BY DEFAULT AS IDENTITY'
      if (type === 'numeric(20,0)') type = 'bigint'
    } else if (SERIAL_TYPES[type]) {
      type = SERIAL_TYPES[type]
    } else {
      warnings.push(`Column ${where} took its default from a sequence but has type ${type}: it is created without that default.`)
    }
  } else if (column.default !== undefined && column.default !== null) {
    if (engine === 'postgres') {
      tail = ` DEFAULT ${column.default}`
    } else if (portableDefault(column.default, 'postgres', column.kind) !== undefined) {
      tail = ` DEFAULT ${portableDefault(column.default, 'postgres', column.kind)}`
    } else {
      warnings.push(`Column ${where}: the ${engine} default ${column.default} is not recreated.`)
    }
  }
  if (column.generated !== undefined && engine !== 'postgres') {
    warnings.push(`Column ${where} is generated in ${engine} (${column.generated}): it is created as a plain column.`)
  }
  return `${quoteIdent(column.name)} ${type}${tail}${column.nullable ? '' : ' NOT NULL'}`
}

/**
 * CREATE TABLE with columns, primary key, unique constraints, CHECK constraints (PostgreSQL
 * backups) and indexes. Foreign keys are not here: they are added after the data (finish()).
 * `takenNames` are relation names already used in the target schema; a constraint or index whose
 * name is taken is created unnamed (PostgreSQL picks a free name) rather than failing.
 */
export function createTableDdl(
  table: TableSchema,
  engine: Engine,
  schema: string,
  takenNames: Set<string>,
  options: { readonly keysAfterData?: boolean } = {},
): TableDdl {
  const warnings: string[] = []
  const target = qualify(schema, table.name)
  const keepName = (name: string): boolean => engine === 'postgres' && name !== '' && !takenNames.has(name)
  const parts = table.columns.map((column) => columnDefinition(column, table.name, engine, warnings))
  const untyped = table.columns.filter((c) => c.kind === 'unknown' && !(engine === 'postgres' && c.type))
  if (untyped.length > 0) {
    warnings.push(
      `Table "${table.name}" is created with ${untyped.map((c) => `"${c.name}"`).join(', ')} as text: the backup does not say their types. ` +
        `Create the table first (e.g. with the application's migrations) to restore into its real types.`,
    )
  }
  const keys: string[] = []
  if (table.primaryKey.length > 0) keys.push(`PRIMARY KEY (${table.primaryKey.map(quoteIdent).join(', ')})`)
  for (const unique of table.uniqueConstraints) {
    const name = keepName(unique.name) ? `CONSTRAINT ${quoteIdent(unique.name)} ` : ''
    if (name) takenNames.add(unique.name)
    keys.push(`${name}UNIQUE (${unique.columns.map(quoteIdent).join(', ')})`)
  }
  const afterData: string[] = []
  if (options.keysAfterData) afterData.push(...keys.map((key) => `ALTER TABLE ${target} ADD ${key}`))
  else parts.push(...keys)
  const statements = [`CREATE TABLE ${target} (\n  ${parts.join(',\n  ')}\n)`]
  const checks = engine === 'postgres' ? (table.options?.checks as { name: string; definition: string }[] | undefined) : undefined
  for (const check of checks ?? []) {
    // Added after CREATE TABLE because a NOT VALID check is only allowed in ALTER TABLE.
    statements.push(`ALTER TABLE ${target} ADD CONSTRAINT ${quoteIdent(check.name)} ${check.definition}`)
  }
  for (const index of table.indexes) {
    const statement = createIndexSql(index, engine, schema, table.name, keepName(index.name))
    if (keepName(index.name)) takenNames.add(index.name)
    ;(options.keysAfterData ? afterData : statements).push(statement)
  }
  return { statements, afterData, warnings }
}

/** The part of a `pg_get_indexdef` text after `USING `: method, keys, INCLUDE, WITH, WHERE. */
const INDEXDEF = /^CREATE (UNIQUE )?INDEX (?:"(?:[^"]|"")*"|[^\s"]+) ON (?:ONLY )?(?:(?:"(?:[^"]|"")*"|[^\s."]+)\.)?(?:"(?:[^"]|"")*"|[^\s."]+) USING ([\s\S]+)$/

/** CREATE INDEX for the target table: the PostgreSQL definition retargeted, or built from columns. */
export function createIndexSql(index: IndexSchema, engine: Engine, schema: string, table: string, keepName: boolean): string {
  const name = keepName ? `${quoteIdent(index.name)} ` : ''
  const target = qualify(schema, table)
  const parsed = engine === 'postgres' && index.definition ? INDEXDEF.exec(index.definition) : null
  if (parsed) return `CREATE ${parsed[1] ?? ''}INDEX ${name}ON ${target} USING ${parsed[2]}`
  return `CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${name}ON ${target} (${index.columns.map(quoteIdent).join(', ')})`
}

/** ALTER TABLE … ADD FOREIGN KEY, for a table created by this restore (added after its data). */
export function foreignKeySql(schema: string, table: string, fk: ForeignKeySchema): string {
  const actions = [
    fk.onDelete && fk.onDelete !== 'NO ACTION' ? ` ON DELETE ${fk.onDelete}` : '',
    fk.onUpdate && fk.onUpdate !== 'NO ACTION' ? ` ON UPDATE ${fk.onUpdate}` : '',
    fk.deferrable ? ' DEFERRABLE' : '',
  ].join('')
  const name = fk.name ? `CONSTRAINT ${quoteIdent(fk.name)} ` : ''
  return (
    `ALTER TABLE ${qualify(schema, table)} ADD ${name}FOREIGN KEY (${fk.columns.map(quoteIdent).join(', ')}) ` +
    `REFERENCES ${qualify(schema, fk.referencedTable)} (${fk.referencedColumns.map(quoteIdent).join(', ')})${actions}`
  )
}
