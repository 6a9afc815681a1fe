/**
 * The cross-engine type mapping (issue #19): the one module that decides which type a column of
 * one SQL engine gets when a backup is restored into another engine, which identifiers the target
 * can take, and which values the target column cannot hold exactly (refused, never rounded,
 * truncated or shifted). docs/adapters.md §Across engines has the table this code implements.
 *
 * A backup made on the same engine keeps its exact types; everything here is for
 * `backup.engine !== target engine` (and for Smart Backup files, whose columns have no type).
 * The choice is made from the column's portable `kind` plus the source engine's exact type, so
 * that what the source can hold the target can hold too:
 * - integers keep their width; unsigned ones take the next wider signed type (MySQL `INT
 *   UNSIGNED` → PostgreSQL `bigint`, `BIGINT UNSIGNED` → `numeric(20,0)`); `TINYINT(1)` stays
 *   an integer (it holds −128..127);
 * - `numeric(p,s)` → `DECIMAL(p,s)`; beyond MariaDB's 65 digits (or unbounded) `DECIMAL(65,30)`,
 *   with a warning: a value it cannot hold is refused; into SQLite, a decimal wider than a double
 *   holds (15 digits) is stored as TEXT so that no digit is lost;
 * - `timestamptz` → MariaDB `DATETIME(6)` holding the UTC instant; `char(n)` → `VARCHAR(n)` in
 *   MariaDB (which would strip a `CHAR`'s padding); `uuid` → `CHAR(36)` (and MariaDB `UUID` →
 *   PostgreSQL `uuid`); `jsonb`/`json` → `JSON`; arrays → `JSON`; enums → `ENUM` or, in SQLite,
 *   TEXT with a CHECK; `bytea` ↔ `BLOB`; MySQL `SET` → text; `interval` → text;
 * - key columns are sized so that MariaDB can index them: text and binary key columns become
 *   `VARCHAR(n)` / `VARBINARY(n)` of the declared length, or 255, shortened so that every index
 *   fits InnoDB's 3072 bytes; a longer value is refused by the write, naming its key;
 * - a foreign-key column takes the type of the column it references (InnoDB refuses a foreign
 *   key between `SMALLINT` and `INT`, PostgreSQL does not).
 *
 * @module
 */
import { createHash } from 'node:crypto'
import type { ColumnSchema, DatabaseSchema, Engine, TableSchema, ValueKind, WireValue } from '../adapter.js'
import { UsageError } from '../../errors.js'

/** The SQL engines the mapping covers. MongoDB documents have their own mapping (docs/adapters.md). */
export type SqlEngine = 'postgres' | 'mysql' | 'sqlite'

// ---------------------------------------------------------------------------------------------
// Identifiers

/** Longest identifier per engine: PostgreSQL 63 bytes (NAMEDATALEN − 1), MySQL/MariaDB 64 characters. */
export function identifierFits(name: string, engine: Engine): boolean {
  if (engine === 'postgres') return Buffer.byteLength(name, 'utf8') <= 63
  if (engine === 'mysql') return [...name].length <= 64 && !/ $/.test(name)
  return true
}

/**
 * Refuses, before anything is written, a backup whose table or column names the target engine
 * cannot take (UsageError naming each): renaming them would break every reader of the data.
 */
export function checkIdentifiers(tables: readonly TableSchema[], from: Engine, to: Engine): void {
  if (from === to) return
  const problems: string[] = []
  for (const table of tables) {
    if (!identifierFits(table.name, to)) problems.push(`table "${table.name}"`)
    for (const column of table.columns) if (!identifierFits(column.name, to)) problems.push(`column "${table.name}"."${column.name}"`)
  }
  if (problems.length === 0) return
  const limit = to === 'postgres' ? 'PostgreSQL names are at most 63 bytes' : 'MySQL/MariaDB names are at most 64 characters (and cannot end with a space)'
  throw new UsageError(`Cannot restore into ${to}: ${limit}, and the backup has ${problems.join(', ')}. Rename them in the source first.`, {
    code: 'IDENTIFIER_TOO_LONG',
    details: { names: problems },
  })
}

/**
 * An index or constraint name the target can take and that is not in `used` yet (`used` is
 * the namespace: per schema for PostgreSQL indexes, per database for MariaDB foreign keys, per
 * file for SQLite indexes). Too long or taken: shortened and given a hash of the original, so the
 * same backup always gets the same names. Adds the result to `used` (compared case-insensitively).
 */
export function uniqueObjectName(name: string, engine: Engine, used: Set<string>): string {
  const limit = engine === 'postgres' ? 63 : 64
  const fold = (n: string): string => n.toLowerCase()
  let candidate = name
  for (let attempt = 0; !identifierFits(candidate, engine) || used.has(fold(candidate)); attempt++) {
    const hash = createHash('sha256').update(`${name}\0${attempt}`).digest('hex').slice(0, 8)
    let head = name
    while (Buffer.byteLength(`${head}_${hash}`, 'utf8') > limit || [...`${head}_${hash}`].length > limit) head = [...head].slice(0, -1).join('')
    candidate = `${head.replace(/ +$/, '')}_${hash}`
  }
  used.add(fold(candidate))
  return candidate
}

// ---------------------------------------------------------------------------------------------
// Column types

const CHAR_LENGTH = /^(?:national\s+)?(?:var)?char(?:acter)?(?:\s+varying)?\s*\((\d+)\)|^(?:n?varchar|nchar|character varying|character|bpchar)\s*\((\d+)\)/i

/** The declared length of a character type (`varchar(20)`, `character(3)`), if any. */
function charLength(type: string): number | undefined {
  const m = CHAR_LENGTH.exec(type.trim())
  return m ? Number(m[1] ?? m[2]) : undefined
}

/** Precision and scale of `numeric(p,s)` / `DECIMAL(p)`, if declared. */
function numericSize(type: string): { precision: number; scale: number } | undefined {
  const m = /\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)/.exec(type)
  return m ? { precision: Number(m[1]), scale: m[2] !== undefined ? Number(m[2]) : 0 } : undefined
}

/** The (first) parenthesised number: `datetime(6)` → 6. */
function firstParam(type: string): number | undefined {
  const m = /\(\s*(\d+)/.exec(type)
  return m ? Number(m[1]) : undefined
}

/** Whether the source engine enforces the declared length of its character types (SQLite does not). */
const enforcesLength = (engine: Engine): boolean => engine === 'postgres' || engine === 'mysql'

/** The name of the enum type a column from an engine without named enums (MySQL) gets in PostgreSQL. */
export function postgresEnumTypeName(table: string, column: ColumnSchema): string {
  return column.enumName ?? `"${`${table}_${column.name}`.replace(/"/g, '""')}"`
}

/**
 * The PostgreSQL type for a column of another engine (a PostgreSQL backup keeps its own type).
 */
export function postgresColumnType(column: ColumnSchema, table: string, from: Engine): string {
  if (from === 'postgres' && column.type) return column.type
  if (column.kind === 'array') {
    const element: ColumnSchema = { name: column.name, type: '', kind: column.elementKind ?? 'unknown', nullable: true, enumName: column.enumName }
    return `${postgresColumnType(element, table, from)}[]`
  }
  const type = column.type.trim().toLowerCase()
  switch (column.kind) {
    case 'integer':
      if (from === 'mysql') {
        // Unsigned: the next wider signed type. TINYINT(1)/BOOLEAN stays an integer (it holds −128..127).
        if (/^(tinyint|smallint|bool|boolean)\b/.test(type) && !/unsigned/.test(type)) return 'smallint'
        if (/^(tinyint)\b/.test(type)) return 'smallint'
        if (/^int(eger)?\b.*unsigned/.test(type)) return 'bigint'
      }
      return 'integer'
    case 'bigint':
      return /unsigned/.test(type) ? 'numeric(20,0)' : 'bigint'
    case 'decimal': {
      const size = numericSize(type)
      return size && size.scale >= 0 && size.scale <= size.precision ? `numeric(${size.precision},${size.scale})` : 'numeric'
    }
    case 'float':
      return from === 'mysql' && /^float\b/.test(type) ? 'real' : 'double precision'
    case 'boolean':
      return 'boolean'
    case 'text': {
      if (from === 'mysql' && type === 'uuid') return 'uuid'
      const length = enforcesLength(from) && /^(?:national\s+)?(?:varchar|character varying|nvarchar)\s*\(/.test(type) ? charLength(type) : undefined
      return length !== undefined && length <= 10_485_760 ? `varchar(${length})` : 'text'
    }
    case 'binary':
      return 'bytea'
    case 'date':
      return 'date'
    case 'timestamp':
      return 'timestamp(6) without time zone'
    case 'timestamptz':
      return 'timestamp(6) with time zone'
    case 'time':
      return 'time(6) without time zone'
    case 'interval':
      return 'interval'
    case 'json':
    case 'document':
      return 'jsonb'
    case 'enum':
      return postgresEnumTypeName(table, column)
    case 'bit': {
      const size = /^bit\s*\(\s*(\d+)\s*\)/.exec(type)
      return size ? `bit(${size[1]})` : 'bit varying'
    }
    default:
      return 'text'
  }
}

/** `'text'` as a MySQL string literal (backslashes and quotes escaped). */
function mysqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`
}

/** InnoDB's longest index key (DYNAMIC row format), in bytes; utf8mb4 takes 4 bytes a character. */
const INNODB_KEY_BYTES = 3072
const DEFAULT_KEY_CHARS = 255

/**
 * The MySQL/MariaDB type for a column of another engine. `keyLength` is the length chosen for a
 * text or binary column that is part of a key or index (see mysqlKeyLengths); undefined for a
 * column in no key.
 */
export function mysqlColumnType(column: ColumnSchema, from: Engine, keyLength: number | undefined, warn: (message: string) => void): string {
  const type = column.type.trim().toLowerCase()
  const inKey = keyLength !== undefined
  switch (column.kind) {
    case 'integer':
      if (from === 'postgres') {
        if (/^(smallint|int2|smallserial|serial2)\b/.test(type)) return 'SMALLINT'
        if (/^(int|int4|integer|serial|serial4|oid)\b/.test(type)) return /^oid/.test(type) ? 'INT UNSIGNED' : 'INT'
      }
      return 'BIGINT'
    case 'bigint':
      return /unsigned/.test(type) ? 'BIGINT UNSIGNED' : 'BIGINT'
    case 'decimal': {
      const size = numericSize(type)
      if (size && size.precision <= 65 && size.scale >= 0 && size.scale <= 30 && size.scale <= size.precision) return `DECIMAL(${size.precision},${size.scale})`
      warn(`${column.name}: ${column.type || 'numeric'} has no exact MySQL equivalent; created as DECIMAL(65,30) (a value beyond it is refused, never rounded).`)
      return 'DECIMAL(65,30)'
    }
    case 'float':
      return from === 'postgres' && /^(real|float4)$/.test(type) ? 'FLOAT' : 'DOUBLE'
    case 'boolean':
      return 'BOOLEAN'
    case 'text': {
      if (type === 'uuid') return 'CHAR(36)'
      // Never CHAR(n): MariaDB strips a CHAR's trailing spaces when reading it, PostgreSQL keeps them.
      const declared = enforcesLength(from) ? charLength(type) : undefined
      if (inKey) {
        if (declared === undefined || declared > keyLength) {
          warn(`${column.name}: ${column.type || 'text'} is part of a key or index; created as VARCHAR(${keyLength}) so that MariaDB can index it (a longer value is refused, naming its key).`)
        }
        return `VARCHAR(${keyLength})`
      }
      if (declared !== undefined && declared <= 16383) return `VARCHAR(${declared})`
      return 'LONGTEXT'
    }
    case 'binary':
      return inKey ? `VARBINARY(${keyLength})` : 'LONGBLOB'
    case 'date':
      return 'DATE'
    case 'timestamp':
    case 'timestamptz': {
      const precision = firstParam(type)
      return `DATETIME(${precision !== undefined && precision <= 6 ? precision : 6})`
    }
    case 'time':
      return 'TIME(6)'
    case 'interval':
      return inKey ? `VARCHAR(${keyLength})` : 'VARCHAR(255)'
    case 'json':
    case 'array':
    case 'document':
      return 'JSON'
    case 'enum':
      if (column.enumValues && column.enumValues.length > 0) return `ENUM(${column.enumValues.map(mysqlString).join(', ')})`
      return inKey ? `VARCHAR(${keyLength})` : 'LONGTEXT'
    case 'bit': {
      const width = firstParam(type)
      if (/^bit\s*\(/.test(type) && width !== undefined && width <= 64) return `BIT(${width})`
      return inKey ? `VARCHAR(${keyLength})` : 'LONGTEXT'
    }
    case 'unknown':
      return inKey ? `VARCHAR(${keyLength})` : 'LONGTEXT'
  }
}

/** Kinds MariaDB stores as VARCHAR/VARBINARY when they are part of a key. */
function variableKeyKind(column: ColumnSchema): boolean {
  if (column.kind === 'text') return column.type.trim().toLowerCase() !== 'uuid'
  if (column.kind === 'enum') return !(column.enumValues && column.enumValues.length > 0)
  if (column.kind === 'bit') return !/^bit\s*\(\s*(\d+)\s*\)$/i.test(column.type.trim()) || Number(firstParam(column.type)) > 64
  return column.kind === 'binary' || column.kind === 'interval' || column.kind === 'unknown'
}

/** Bytes a fixed-size key column takes in an InnoDB index (an upper bound). */
function fixedKeyBytes(column: ColumnSchema): number {
  switch (column.kind) {
    case 'decimal':
      return 30
    case 'text':
      return 36 * 4
    default:
      return 8
  }
}

/**
 * The VARCHAR/VARBINARY length of each text or binary column of `table` that is in a key or an
 * index, for MariaDB: the declared length (or 255), shortened where an index's columns would
 * pass InnoDB's 3072-byte key limit. Columns in no key are not in the map.
 */
export function mysqlKeyLengths(table: TableSchema, from: Engine): Map<string, number> {
  const byName = new Map(table.columns.map((c) => [c.name, c]))
  const keys: (readonly string[])[] = [
    table.primaryKey,
    ...table.uniqueConstraints.map((u) => u.columns),
    ...table.indexes.map((i) => i.columns),
    ...table.foreignKeys.map((f) => f.columns),
  ].filter((k) => k.length > 0)
  const lengths = new Map<string, number>()
  for (const key of keys) {
    for (const name of key) {
      const column = byName.get(name)
      if (!column || lengths.has(name)) continue
      if (!variableKeyKind(column)) lengths.set(name, 0)
      else {
        const declared = enforcesLength(from) ? charLength(column.type.toLowerCase()) : undefined
        lengths.set(name, Math.min(declared ?? DEFAULT_KEY_CHARS, INNODB_KEY_BYTES / 4))
      }
    }
  }
  const bytesPerUnit = (column: ColumnSchema): number => (column.kind === 'binary' ? 1 : 4)
  for (const key of keys) {
    const columns = key.map((n) => byName.get(n)).filter((c): c is ColumnSchema => c !== undefined)
    const variable = columns.filter(variableKeyKind)
    if (variable.length === 0) continue
    const fixed = columns.filter((c) => !variableKeyKind(c)).reduce((sum, c) => sum + fixedKeyBytes(c), 0)
    const used = fixed + variable.reduce((sum, c) => sum + lengths.get(c.name)! * bytesPerUnit(c), 0)
    if (used <= INNODB_KEY_BYTES) continue
    const share = Math.floor((INNODB_KEY_BYTES - fixed) / variable.length)
    for (const column of variable) lengths.set(column.name, Math.min(lengths.get(column.name)!, Math.floor(share / bytesPerUnit(column))))
  }
  for (const [name, length] of [...lengths]) if (length === 0) lengths.delete(name)
  return lengths
}

/**
 * The SQLite declared type for a column of another engine, by the affinity that keeps its values
 * (https://sqlite.org/datatype3.html): a name SQLite's own backups map back to the same kind.
 */
export function sqliteColumnType(column: Pick<ColumnSchema, 'type' | 'kind'>, from: Engine): string {
  if (from === 'sqlite') return column.type
  const type = column.type.trim().toLowerCase()
  switch (column.kind) {
    case 'integer':
    case 'bigint':
      return 'INTEGER'
    case 'float':
      return 'REAL'
    case 'decimal': {
      // NUMERIC affinity stores a decimal as a double (15 significant digits) or a 64-bit
      // integer: wider declared precisions, and unbounded numerics, are kept as text instead.
      const size = numericSize(type)
      return size && size.precision <= 15 && size.scale >= 0 ? `NUMERIC(${size.precision},${size.scale})` : 'DECIMAL TEXT'
    }
    case 'boolean':
      return 'BOOLEAN'
    case 'binary':
      return 'BLOB'
    case 'json':
    case 'array':
    case 'document':
      return 'JSON'
    case 'date':
      return 'DATE TEXT'
    case 'timestamp':
      return 'DATETIME TEXT'
    case 'timestamptz':
      return 'TIMESTAMPTZ TEXT'
    case 'time':
      return 'TIME TEXT'
    case 'unknown':
      return type === '' ? '' : 'TEXT'
    default:
      return 'TEXT'
  }
}

/** SQLite: a CHECK that keeps an enum column to its labels (SQLite has no enum type). */
export function sqliteEnumCheck(column: ColumnSchema, quote: (name: string) => string): string | undefined {
  if (column.kind !== 'enum' || !column.enumValues || column.enumValues.length === 0) return undefined
  return `CHECK (${quote(column.name)} IN (${column.enumValues.map((l) => `'${l.replace(/'/g, "''")}'`).join(', ')}))`
}

/**
 * A foreign-key column whose referenced column is in the backup gets that column's target type
 * (InnoDB refuses a foreign key between SMALLINT and INT, or between VARCHAR and TEXT).
 * Returns column name → referenced column, for the columns of `table` that reference a table of `schema`.
 */
export function referencedColumns(table: TableSchema, tables: readonly TableSchema[]): Map<string, { table: TableSchema; column: ColumnSchema }> {
  const byName = new Map(tables.map((t) => [t.name, t]))
  const out = new Map<string, { table: TableSchema; column: ColumnSchema }>()
  for (const fk of table.foreignKeys) {
    const parent = byName.get(fk.referencedTable)
    if (!parent) continue
    fk.columns.forEach((name, i) => {
      const column = parent.columns.find((c) => c.name === fk.referencedColumns[i])
      if (column && !out.has(name)) out.set(name, { table: parent, column })
    })
  }
  return out
}

/** The MySQL column types of a whole table of another engine, foreign-key columns matched to their parents. */
export function mysqlTableTypes(table: TableSchema, from: Engine, tables: readonly TableSchema[], warn: (message: string) => void): Map<string, string> {
  const lengths = mysqlKeyLengths(table, from)
  const types = new Map<string, string>()
  for (const column of table.columns) types.set(column.name, mysqlColumnType(column, from, lengths.get(column.name), warn))
  for (const [name, parent] of referencedColumns(table, tables)) {
    const own = table.columns.find((c) => c.name === name)!
    const parentLengths = mysqlKeyLengths(parent.table, from)
    const parentType = mysqlColumnType(parent.column, from, parentLengths.get(parent.column.name) ?? (variableKeyKind(parent.column) ? DEFAULT_KEY_CHARS : undefined), () => {})
    if (sameFamily(own.kind, parent.column.kind)) types.set(name, parentType)
  }
  return types
}

function sameFamily(a: ValueKind, b: ValueKind): boolean {
  const family = (k: ValueKind): string => (k === 'integer' || k === 'bigint' ? 'int' : k)
  return family(a) === family(b)
}

// ---------------------------------------------------------------------------------------------
// Defaults

/**
 * A default expression of another engine, in the target's SQL, when it is a plain literal or the
 * current time; undefined otherwise (the caller warns and leaves the default out).
 */
export function portableDefault(expression: string, to: Engine, kind?: ValueKind): string | undefined {
  const text = expression.trim()
  if (kind === 'boolean' && to === 'postgres') {
    // MariaDB and SQLite spell boolean defaults 0 and 1.
    if (/^'?0'?$/.test(text) || /^false$/i.test(text)) return 'false'
    if (/^'?1'?$/.test(text) || /^true$/i.test(text)) return 'true'
    return undefined
  }
  if (/^(?:current_timestamp|now|localtimestamp)\s*\(\s*\)$/i.test(text)) return 'CURRENT_TIMESTAMP'
  const precise = /^(?:current_timestamp|localtimestamp)\s*\(\s*(\d)\s*\)$/i.exec(text)
  if (precise) return `CURRENT_TIMESTAMP(${precise[1]})`
  if (/^(?:current_timestamp|current_date|localtimestamp)$/i.test(text)) return text.toUpperCase()
  if (/^-?\d+(?:\.\d+)?$/.test(text) || /^(?:true|false|null)$/i.test(text)) return text
  if (/^'(?:[^'\\]|'')*'$/.test(text)) return to === 'mysql' ? text.replace(/\\/g, '\\\\') : text
  return undefined
}

// ---------------------------------------------------------------------------------------------
// Values

/** What a refusal says about the target column. */
export interface TargetColumn {
  readonly name: string
  readonly kind: ValueKind
  readonly type: string
  readonly elementKind?: ValueKind
}

const ISO_DATE = /^(\d{4,})-(\d{2})-(\d{2})/
const TIME_OF_DAY = /^(\d{2}):([0-5]\d):([0-5]\d)(\.\d+)?$/
const FRACTION = /\.(\d+)/

function isTagged(value: WireValue): value is { $sqlite: string; value: string } {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && typeof (value as Record<string, WireValue>).$sqlite === 'string'
}

/**
 * Why `value` (a wire value of the source column `source`) cannot be written exactly into
 * `target` on engine `to`, or undefined when it can. Only what the target's own write path would
 * not refuse by itself, or would refuse without naming the row, is checked here.
 */
export function valueRefusal(value: WireValue | undefined, source: Pick<ColumnSchema, 'kind' | 'type' | 'elementKind'>, target: TargetColumn, to: Engine): string | undefined {
  if (value === null || value === undefined) return undefined
  if (isTagged(value) && to !== 'sqlite') {
    return `SQLite stored a ${value.$sqlite} value in this ${source.type || 'untyped'} column (${JSON.stringify(value.value.slice(0, 40))}); ${to} keeps one type per column`
  }
  const text = typeof value === 'string' ? value : undefined
  const special = text !== undefined && /^(?:-?infinity|nan)$/i.test(text)
  switch (target.kind) {
    case 'date':
    case 'timestamp':
    case 'timestamptz': {
      if (text === undefined) return undefined
      if (/^0000-00-00/.test(text) && to !== 'mysql') return `the zero date ${text} of MySQL is not a date in ${to}`
      if (to === 'mysql') {
        if (special) return `MariaDB has no ${text} date`
        if (/ BC$/.test(text)) return `MariaDB has no dates before the year 1 (${text})`
        const year = ISO_DATE.exec(text)?.[1]
        if (year !== undefined && year.length > 4) return `MariaDB has no year beyond 9999 (${text})`
        const precision = firstParam(target.type) ?? 0
        const digits = FRACTION.exec(text.slice(10))?.[1]?.replace(/0+$/, '') ?? ''
        if (target.kind !== 'date' && digits.length > precision) return `${target.type} keeps ${precision} fractional digits, ${text} has ${digits.length}`
      }
      return undefined
    }
    case 'time': {
      if (text === undefined || to === 'sqlite') return undefined
      if (/[+-]\d{2}(?::?\d{2})?$/.test(text) && to === 'mysql' && !/^-/.test(text)) return `MariaDB TIME has no time zone offset (${text})`
      if (to === 'postgres' && !/[+-]\d{2}(:?\d{2})?$/.test(text)) {
        const m = TIME_OF_DAY.exec(text)
        if (!m || Number(m[1]) > 24 || (Number(m[1]) === 24 && !/^24:00:00(\.0*)?$/.test(text))) return `PostgreSQL time holds 00:00:00 to 24:00:00, not ${text}`
      }
      return undefined
    }
    case 'float': {
      if (to === 'mysql' && typeof value === 'string' && /^(?:-?infinity|nan)$/i.test(value)) return `MariaDB has no ${value} floating-point value`
      if (to === 'sqlite' && typeof value === 'string' && /^nan$/i.test(value)) return 'SQLite stores NaN as NULL'
      return undefined
    }
    case 'decimal': {
      if (to === 'mysql' && special) return `MariaDB has no ${text} decimal`
      const size = to === 'mysql' ? numericSize(target.type) : undefined
      const digits = size && (typeof value === 'string' || typeof value === 'number') ? /^[+-]?(\d*)(?:\.(\d*))?$/.exec(String(value)) : null
      if (size && digits) {
        const whole = (digits[1] ?? '').replace(/^0+/, '')
        const fraction = (digits[2] ?? '').replace(/0+$/, '')
        if (whole.length > size.precision - size.scale) return `${target.type} holds ${size.precision - size.scale} digits before the point, ${text ?? value} has ${whole.length}`
        if (fraction.length > size.scale) return `${target.type} keeps ${size.scale} digits after the point, ${text ?? value} has ${fraction.length} (it would be rounded)`
      }
      if (to === 'sqlite' && special && affinityIsNumeric(target.type)) return `SQLite has no ${text} number`
      return undefined
    }
    case 'integer':
    case 'bigint':
      if (to === 'sqlite' && text !== undefined && /^\d+$/.test(text) && BigInt(text) > 9_223_372_036_854_775_807n) return `${text} is beyond SQLite's 64-bit integers`
      return undefined
    case 'text': {
      // A longer text would be cut (or refused without naming the row) by a VARCHAR(n).
      const limit = to === 'sqlite' || text === undefined ? undefined : /^(?:varchar|character varying)\s*\(\s*(\d+)\s*\)/i.exec(target.type.trim())
      if (limit && [...text!].length > Number(limit[1])) return `${target.type} holds ${limit[1]} characters, this text has ${[...text!].length}`
      return undefined
    }
    case 'binary': {
      const limit = to === 'mysql' && text !== undefined ? /^varbinary\s*\(\s*(\d+)\s*\)/i.exec(target.type.trim()) : null
      if (limit && Buffer.from(text!, 'base64').length > Number(limit[1])) return `${target.type} holds ${limit[1]} bytes, this value has ${Buffer.from(text!, 'base64').length}`
      return undefined
    }
    default:
      return undefined
  }
}

function affinityIsNumeric(type: string): boolean {
  const t = type.toUpperCase()
  return !t.includes('TEXT') && !t.includes('CHAR') && !t.includes('CLOB')
}

/**
 * Before a restore or merge of a backup of `schema.engine` into `to` touches anything: refuses a
 * MongoDB backup of whole documents into SQL (not offered), and names the target cannot take.
 * (SQL into MongoDB is refused by the MongoDB destination itself.)
 */
export function checkCrossEngine(schema: Pick<DatabaseSchema, 'engine' | 'tables'>, to: Engine): void {
  if (schema.engine === to) return
  if (schema.engine === 'mongodb' && to !== 'mongodb') {
    const whole = schema.tables.filter((t) => t.columns.some((c) => c.kind === 'document')).map((t) => `"${t.name}"`)
    if (whole.length > 0) {
      throw new UsageError(
        `Restoring or merging a MongoDB backup into ${to} is not offered: its collections (${whole.join(', ')}) are kept as whole documents, not as columns. ` +
          `Restore it into MongoDB. (A seed file in MongoDB's native layout, whose documents are read field by field, does restore into SQL.) Nothing was changed.`,
        { code: 'CROSS_ENGINE_UNSUPPORTED', details: { from: 'mongodb', to, tables: whole } },
      )
    }
  }
  checkIdentifiers(schema.tables, schema.engine, to)
}
