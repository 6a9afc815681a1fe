/**
 * The schema of a backup file is untrusted input (DESIGN.md §7, docs/security.md): this is where
 * every piece of SQL it carries is parsed and re-emitted, or refused, before any destination
 * sees it. Every path that reads a backup (restore, merge, analyze, verify, inspect, the API)
 * goes through `scanBackup`, which applies it, so `verify` refuses exactly what `restore` would.
 *
 * Per field, for a backup of engine E:
 * - column `type`: parsed by E's type grammar (src/adapters/types/sql-type.ts) and re-emitted;
 *   one that does not parse is refused (FormatError naming table and column).
 * - `enumName`, PostgreSQL domain names: parsed as (schema-qualified) names, re-emitted quoted;
 *   refused otherwise. Domain base types as column types.
 * - `default`, `generated`, CHECK constraints, domain constraints: parsed as plain expressions
 *   over the table's own columns (sql-expression.ts) and re-emitted; otherwise dropped with a
 *   warning (a generated column then holds the backed-up values as a plain column).
 * - index `definition` (PostgreSQL, SQLite): parsed (index-definition.ts) and rebuilt; otherwise
 *   rebuilt from its columns when they are plain columns, or dropped, with a warning.
 * - MySQL `options.definition`, SQLite `options.sql` and triggers: the engine's own full text.
 *   Used only from a backup this installation made and sealed (`trusted`, see origin-seal.ts);
 *   from any other file they are dropped (the table is built from its columns) with a warning.
 * - names in `options` spliced into DDL (MySQL engine/charset/collation), foreign-key actions,
 *   index prefix lengths: checked against their few possible forms, dropped otherwise.
 *
 * With `trusted`, definitions are kept as the file has them and a type that does not parse is
 * kept too (this installation's own introspector wrote it).
 *
 * @module
 */
import type { ColumnSchema, Engine, ForeignKeySchema, IndexSchema, TableSchema } from '../adapters/adapter.js'
import { emitIndexDefinition, parseIndexDefinition } from '../adapters/types/index-definition.js'
import { normalizeExpression } from '../adapters/types/sql-expression.js'
import { SqlSyntaxError, TokenStream, quoteIdentifierFor, tokenize, type Dialect } from '../adapters/types/sql-lexer.js'
import { normalizeType, parseQualifiedName } from '../adapters/types/sql-type.js'
import { FormatError } from '../errors.js'
import { sequenceOfDefault, type SequenceFields } from '../adapters/types/sequences.js'
import { checkVirtualTable, virtualColumns, VirtualTableError, type VirtualTableDefinition } from '../adapters/types/virtual-tables.js'

export interface GuardedSchema {
  readonly tables: readonly TableSchema[]
  readonly warnings: readonly string[]
}

export interface GuardOptions {
  /** The file was made and sealed by this installation (origin-seal.ts): its own definitions are used. */
  readonly trusted?: boolean
  /**
   * What to do with an expression or definition that does not parse (default 'refuse': a
   * FormatError naming the table and column or index). 'drop': leave it out with a warning
   * (CLI `--drop-unsafe-definitions`).
   */
  readonly unsafeDefinitions?: 'refuse' | 'drop'
}

const ENGINES: ReadonlySet<string> = new Set(['postgres', 'mysql', 'sqlite', 'mongodb'])
const FK_ACTIONS = new Set(['CASCADE', 'SET NULL', 'SET DEFAULT', 'RESTRICT', 'NO ACTION'])
const MYSQL_INDEX_TYPES = new Set(['BTREE', 'HASH', 'FULLTEXT', 'SPATIAL', 'RTREE'])
const PLAIN_NAME = /^[A-Za-z0-9_]{1,64}$/
/** A MariaDB sequence's name: an identifier that needs no escaping inside backquotes. */
const SEQUENCE_NAME = /^[^`'";\\\u0000-\u001f\u007f]{1,64}$/u

/**
 * Extensions a file made elsewhere may have a restore install (CREATE EXTENSION runs as the
 * database owner): the contrib and common ones whose purpose is column types. Anything else
 * (dblink, file_fdw, untrusted languages…) is left out; a file sealed here keeps what it names.
 */
const TYPE_EXTENSIONS = new Set(['citext', 'hstore', 'ltree', 'cube', 'isn', 'seg', 'earthdistance', 'postgis', 'vector'])

/**
 * Checks and rebuilds the tables of a backup whose metadata names `engine`. Throws FormatError
 * for what cannot be made safe (a type outside the grammar, a malformed type name); returns the
 * tables to hand to a destination and the warnings for what was dropped.
 */
export function guardSchema(tables: readonly TableSchema[], engine: unknown, options: GuardOptions = {}): GuardedSchema {
  const warnings: string[] = []
  const hasSql = tables.some((t) => t.columns.some((c) => c.type !== '' || c.default != null || c.generated !== undefined) || t.options !== undefined || t.indexes.some((i) => i.definition))
  if (engine === undefined && !hasSql) return { tables, warnings }
  if (typeof engine !== 'string' || !ENGINES.has(engine)) {
    throw new FormatError(`the backup's metadata.engine is ${JSON.stringify(engine)}, not one of postgres, mysql, sqlite, mongodb: its column types cannot be read.`)
  }
  if (engine === 'mongodb') return { tables, warnings }
  const guard = new Guard(engine as Exclude<Engine, 'mongodb'>, Boolean(options.trusted), options.unsafeDefinitions ?? 'refuse', warnings)
  return { tables: tables.map((t) => guard.table(t)), warnings }
}

class Guard {
  readonly #dialect: Dialect
  readonly #trusted: boolean
  readonly #warnings: string[]
  readonly #onUnsafe: 'refuse' | 'drop'

  constructor(dialect: Dialect, trusted: boolean, onUnsafe: 'refuse' | 'drop', warnings: string[]) {
    this.#dialect = dialect
    this.#trusted = trusted
    this.#onUnsafe = onUnsafe
    this.#warnings = warnings
  }

  table(table: TableSchema): TableSchema {
    const names = table.columns.map((c) => c.name)
    const sequences = this.#dialect === 'mysql' ? this.#sequences(table) : undefined
    const columns = table.columns.map((c) => this.#column(table, c, names, sequences))
    const indexes = table.indexes.flatMap((i) => this.#index(table, i, names))
    const foreignKeys = table.foreignKeys.map((fk) => this.#foreignKey(table, fk))
    const options = table.options === undefined ? undefined : this.#options(table, names)
    return { ...table, columns, indexes, foreignKeys, ...(options === undefined ? {} : { options }) }
  }

  #warn(message: string): void {
    this.#warnings.push(message)
  }

  /**
   * An expression or definition that does not parse: refused (FormatError, before anything is
   * touched) or, with `unsafeDefinitions: 'drop'`, left out with the warning `message`.
   */
  #unsafe(table: TableSchema, subject: string, reason: string, details: Record<string, unknown>, consequence = ''): void {
    if (this.#onUnsafe === 'drop') {
      this.#warn(`${subject} is not recreated (${reason})${consequence ? `; ${consequence}` : ''}.`)
      return
    }
    throw new FormatError(
      `${subject} is refused: ${reason}. Nothing was changed. A backup file's SQL is parsed and rebuilt, never run as it is ` +
        `(docs/security.md); to go on without it, use --drop-unsafe-definitions (API: dropUnsafeDefinitions).`,
      { table: table.name, details },
    )
  }

  #type(table: TableSchema, column: string, text: string, what = 'type'): string {
    try {
      return normalizeType(text, this.#dialect)
    } catch (error) {
      if (!(error instanceof SqlSyntaxError)) throw error
      if (this.#trusted) return text
      throw new FormatError(
        `Table "${table.name}", column "${column}": the ${what} ${JSON.stringify(text.slice(0, 200))} is not a ${this.#dialect} column type mergeback accepts (${error.message}). ` +
          `Nothing was changed. A backup file's types are checked against each engine's type grammar (docs/security.md).`,
        { table: table.name, details: { column, type: text.slice(0, 200) } },
      )
    }
  }

  #expression(text: string, columns: readonly string[], pseudoColumns?: readonly string[]): string | SqlSyntaxError {
    try {
      return normalizeExpression(text, { dialect: this.#dialect, columns, pseudoColumns })
    } catch (error) {
      if (error instanceof SqlSyntaxError) return error
      throw error
    }
  }

  #name(table: TableSchema, column: string, text: string, what: string): string {
    try {
      const tokens = new TokenStream(tokenize(text, this.#dialect))
      const name = parseQualifiedName(tokens)
      tokens.expectEnd()
      return (name.schema !== undefined ? `${quoteIdentifierFor(name.schema, this.#dialect)}.` : '') + quoteIdentifierFor(name.name, this.#dialect)
    } catch (error) {
      if (!(error instanceof SqlSyntaxError)) throw error
      throw new FormatError(`Table "${table.name}", column "${column}": the ${what} ${JSON.stringify(text.slice(0, 200))} is not a name (${error.message}). Nothing was changed.`, {
        table: table.name,
        details: { column },
      })
    }
  }

  #column(table: TableSchema, column: ColumnSchema, names: readonly string[], sequences?: readonly SequenceFields[]): ColumnSchema {
    const where = `"${table.name}"."${column.name}"`
    let result: ColumnSchema = column.type === '' ? column : { ...column, type: this.#type(table, column.name, column.type) }
    if (column.enumName !== undefined) result = { ...result, enumName: this.#name(table, column.name, column.enumName, 'enum type name') }
    // A MariaDB `NEXT VALUE FOR seq` default: rebuilt from the name of a sequence the table carries.
    const fedBy = sequences === undefined ? undefined : sequenceOfDefault(column.default)
    if (fedBy !== undefined && fedBy.schema === undefined && sequences!.some((s) => s.name === fedBy.name)) {
      return { ...result, default: `nextval(${quoteIdentifierFor(fedBy.name, 'mysql')})` }
    }
    if (column.default !== undefined && column.default !== null && !this.#trusted) {
      const normalized = this.#expression(column.default, [])
      if (typeof normalized === 'string') result = { ...result, default: normalized }
      else {
        const { default: _dropped, ...rest } = result
        result = rest
        // A sequence default goes with autoIncrement, which recreates it: nothing is lost.
        if (!column.autoIncrement) {
          this.#unsafe(table, `Column ${where}: its default ${JSON.stringify(column.default.slice(0, 200))}`, normalized.message, { column: column.name })
        }
      }
    }
    if (column.generated !== undefined && !this.#trusted) {
      const normalized = this.#expression(column.generated, names)
      if (typeof normalized === 'string') result = { ...result, generated: normalized }
      else {
        const { generated: _dropped, ...rest } = result
        result = rest
        this.#unsafe(table, `Column ${where}: its generated expression`, normalized.message, { column: column.name }, 'it is created as a plain column holding the backed-up values')
      }
    }
    return result
  }

  #index(table: TableSchema, index: IndexSchema, names: readonly string[]): IndexSchema[] {
    let result = index
    const prefixes = index.options?.prefixLengths
    if (index.options !== undefined && this.#dialect === 'mysql') {
      const type = index.options.type
      const options: Record<string, unknown> = {}
      if (typeof type === 'string' && MYSQL_INDEX_TYPES.has(type.toUpperCase())) options.type = type
      if (prefixes !== undefined && typeof prefixes === 'object' && prefixes !== null) {
        const valid = Object.entries(prefixes).filter(([, v]) => Number.isSafeInteger(v) && (v as number) > 0 && (v as number) < 65536)
        if (valid.length > 0) options.prefixLengths = Object.fromEntries(valid)
      }
      result = { ...result, options }
    }
    if (index.definition === undefined || this.#trusted || this.#dialect === 'mysql') return [result]
    const { definition: _dropped, ...plain } = result
    try {
      const parsed = parseIndexDefinition(index.definition, this.#dialect, table.name, names)
      if (parsed.name !== index.name) throw new SqlSyntaxError(`it names index "${parsed.name}", not "${index.name}"`)
      return [{ ...plain, definition: emitIndexDefinition(parsed) }]
    } catch (error) {
      if (!(error instanceof SqlSyntaxError)) throw error
      const plainColumns = index.columns.length > 0 && index.columns.every((c) => names.includes(c))
      if (plainColumns) {
        this.#unsafe(table, `Index "${index.name}" of "${table.name}": its definition`, error.message, { index: index.name }, 'the index is created on its columns only')
        return [{ ...plain, options: { ...plain.options, expression: false, partial: false } }]
      }
      this.#unsafe(table, `Index "${index.name}" of "${table.name}"`, error.message, { index: index.name })
      return []
    }
  }

  #foreignKey(table: TableSchema, fk: ForeignKeySchema): ForeignKeySchema {
    const action = (rule: string | undefined, which: string): string | undefined => {
      if (rule === undefined) return undefined
      const normalized = rule.trim().toUpperCase().replace(/\s+/g, ' ')
      if (FK_ACTIONS.has(normalized)) return normalized
      this.#unsafe(table, `Foreign key "${fk.name}" of "${table.name}": ${which} ${JSON.stringify(rule.slice(0, 100))}`, 'not a referential action', { foreignKey: fk.name })
      return undefined
    }
    const { onDelete, onUpdate, ...rest } = fk
    const del = action(onDelete, 'ON DELETE')
    const upd = action(onUpdate, 'ON UPDATE')
    return { ...rest, ...(del ? { onDelete: del } : {}), ...(upd ? { onUpdate: upd } : {}) }
  }

  #options(table: TableSchema, names: readonly string[]): Record<string, unknown> {
    const options = table.options!
    switch (this.#dialect) {
      case 'postgres':
        return this.#postgresOptions(table, options, names)
      case 'mysql':
        return this.#mysqlOptions(table, options)
      case 'sqlite':
        return this.#sqliteOptions(table, options)
    }
  }

  #postgresOptions(table: TableSchema, options: Readonly<Record<string, unknown>>, names: readonly string[]): Record<string, unknown> {
    const result: Record<string, unknown> = {}
    if (options.partitioned === true) result.partitioned = true
    if (Array.isArray(options.checks)) {
      const checks: { name: string; definition: string }[] = []
      for (const check of options.checks as unknown[]) {
        const { name, definition } = (check ?? {}) as { name?: unknown; definition?: unknown }
        if (typeof name !== 'string' || typeof definition !== 'string') continue
        if (this.#trusted) {
          checks.push({ name, definition })
          continue
        }
        const rebuilt = this.#check(definition, names)
        if (typeof rebuilt === 'string') checks.push({ name, definition: rebuilt })
        else this.#unsafe(table, `CHECK constraint "${name}" of "${table.name}"`, rebuilt.message, { constraint: name })
      }
      if (checks.length > 0) result.checks = checks
    }
    if (Array.isArray(options.domains)) {
      result.domains = (options.domains as unknown[]).map((domain) => this.#domain(table, domain))
    }
    if (Array.isArray(options.extensions)) {
      const extensions = (options.extensions as unknown[]).filter(
        (e): e is string => typeof e === 'string' && PLAIN_NAME.test(e) && (this.#trusted || TYPE_EXTENSIONS.has(e)),
      )
      if (extensions.length > 0) result.extensions = extensions
    }
    if (Array.isArray(options.types)) {
      result.types = (options.types as unknown[]).map((type) => this.#userType(table, type))
    }
    return result
  }

  /** A composite, range, enum or domain type of `options.types`: names, attribute types and labels re-emitted. */
  #userType(table: TableSchema, value: unknown): unknown {
    const type = (value ?? {}) as Record<string, unknown>
    const bad = (why: string): FormatError => new FormatError(`Table "${table.name}": a type in options.types ${why}.`, { table: table.name })
    if (typeof type.name !== 'string') throw bad('has no name')
    const label = String(type.name)
    switch (type.kind) {
      case 'domain':
        return { kind: 'domain', ...(this.#domain(table, type) as object) }
      case 'enum': {
        if (!Array.isArray(type.labels) || !type.labels.every((l) => typeof l === 'string')) throw bad(`(enum ${label}) has no list of labels`)
        return { kind: 'enum', name: this.#name(table, label, label, 'enum type name'), labels: type.labels }
      }
      case 'composite': {
        if (!Array.isArray(type.attributes)) throw bad(`(composite ${label}) has no attributes`)
        const attributes = (type.attributes as unknown[]).map((attribute) => {
          const { name, type: attributeType } = (attribute ?? {}) as { name?: unknown; type?: unknown }
          if (typeof name !== 'string' || typeof attributeType !== 'string') throw bad(`(composite ${label}) has an attribute without a name or type`)
          return { name, type: this.#type(table, name, attributeType, `type of attribute "${name}" of composite ${label}`) }
        })
        return { kind: 'composite', name: this.#name(table, label, label, 'composite type name'), attributes }
      }
      case 'range': {
        if (typeof type.subtype !== 'string') throw bad(`(range ${label}) has no subtype`)
        return {
          kind: 'range',
          name: this.#name(table, label, label, 'range type name'),
          subtype: this.#type(table, label, type.subtype, `subtype of range ${label}`),
          ...(typeof type.collation === 'string' ? { collation: this.#name(table, label, type.collation, `collation of range ${label}`) } : {}),
          ...(typeof type.subtypeOpclass === 'string' ? { subtypeOpclass: this.#name(table, label, type.subtypeOpclass, `operator class of range ${label}`) } : {}),
        }
      }
      default:
        throw bad(`(${label}) is of an unknown kind ${JSON.stringify(type.kind)}`)
    }
  }

  /** `CHECK (expr) [NOT VALID]` → rebuilt, or the reason it is not. */
  #check(definition: string, columns: readonly string[], pseudoColumns?: readonly string[]): string | SqlSyntaxError {
    const match = /^\s*CHECK\s*\(([\s\S]*)\)\s*(NOT VALID)?\s*$/i.exec(definition)
    if (!match) return new SqlSyntaxError('not a CHECK (…) constraint')
    const expression = this.#expression(match[1]!, columns, pseudoColumns)
    if (typeof expression !== 'string') return expression
    return `CHECK (${expression})${match[2] ? ' NOT VALID' : ''}`
  }

  #domain(table: TableSchema, value: unknown): unknown {
    const domain = (value ?? {}) as { name?: unknown; baseType?: unknown; notNull?: unknown; default?: unknown; constraints?: unknown }
    if (typeof domain.name !== 'string' || typeof domain.baseType !== 'string') {
      throw new FormatError(`Table "${table.name}": a domain in options.domains has no name or base type.`, { table: table.name })
    }
    const name = this.#name(table, domain.name, domain.name, 'domain name')
    const baseType = this.#type(table, domain.name, domain.baseType, 'domain base type')
    let defaultExpression: string | null = typeof domain.default === 'string' ? domain.default : null
    const constraints: { name: string; definition: string }[] = []
    if (!this.#trusted) {
      if (defaultExpression !== null) {
        const normalized = this.#expression(defaultExpression, [])
        if (typeof normalized !== 'string') this.#unsafe(table, `Domain ${name} of "${table.name}": its default`, normalized.message, { domain: name })
        defaultExpression = typeof normalized === 'string' ? normalized : null
      }
    }
    for (const constraint of Array.isArray(domain.constraints) ? (domain.constraints as unknown[]) : []) {
      const { name: constraintName, definition } = (constraint ?? {}) as { name?: unknown; definition?: unknown }
      if (typeof constraintName !== 'string' || typeof definition !== 'string') continue
      if (definition === 'NOT NULL' || this.#trusted) {
        constraints.push({ name: constraintName, definition })
        continue
      }
      const rebuilt = this.#check(definition, [], ['VALUE', 'value'])
      if (typeof rebuilt === 'string') constraints.push({ name: constraintName, definition: rebuilt })
      else this.#unsafe(table, `Constraint "${constraintName}" of domain ${name}`, rebuilt.message, { domain: name })
    }
    return { name, baseType, notNull: domain.notNull === true, default: defaultExpression, constraints }
  }

  /**
   * `options.sequences` (MariaDB, docs/format.md): each sequence's fields checked — the name an
   * identifier, every number a 64-bit integer, `cycle` a boolean — whether or not the file was
   * made here, since CREATE SEQUENCE is always built from them. Anything else is refused.
   */
  #sequences(table: TableSchema): SequenceFields[] {
    const value = table.options?.sequences
    if (value === undefined) return []
    const bad = (why: string): FormatError =>
      new FormatError(`Table "${table.name}": options.sequences ${why}. Nothing was changed. A backup's sequences are rebuilt from checked fields (docs/security.md).`, {
        table: table.name,
      })
    if (!Array.isArray(value)) throw bad('is not a list')
    const out: SequenceFields[] = []
    for (const item of value as unknown[]) {
      const s = (item ?? {}) as Record<string, unknown>
      if (typeof s.name !== 'string' || !SEQUENCE_NAME.test(s.name) || / $/.test(s.name)) {
        throw bad(`holds a sequence whose name ${JSON.stringify(String(s.name).slice(0, 100))} is not an identifier (1–64 characters, no backquote, quote, semicolon or control character)`)
      }
      const number = (key: string): string => {
        const v = s[key]
        const text = typeof v === 'number' && Number.isSafeInteger(v) ? String(v) : v
        if (typeof text !== 'string' || !/^-?[0-9]{1,20}$/.test(text) || BigInt(text) < -(2n ** 63n) || BigInt(text) >= 2n ** 63n) {
          throw bad(`gives sequence ${s.name} a ${key} ${JSON.stringify(String(v).slice(0, 100))}, which is not a 64-bit integer`)
        }
        return BigInt(text).toString()
      }
      const fields: SequenceFields = {
        name: s.name,
        start: number('start'),
        increment: number('increment'),
        minValue: number('minValue'),
        maxValue: number('maxValue'),
        cache: number('cache'),
        cycle: s.cycle === true,
        next: number('next'),
        round: s.round === undefined ? '0' : number('round'),
      }
      if (typeof s.cycle !== 'boolean') throw bad(`gives sequence ${s.name} a cycle ${JSON.stringify(String(s.cycle).slice(0, 100))}, which is not true or false`)
      if (fields.increment === '0') throw bad(`gives sequence ${s.name} an increment of 0`)
      if (BigInt(fields.cache) < 0n || BigInt(fields.round) < 0n) throw bad(`gives sequence ${s.name} a negative cache or round`)
      if (BigInt(fields.minValue) > BigInt(fields.maxValue)) throw bad(`gives sequence ${s.name} a minValue above its maxValue`)
      out.push(fields)
    }
    return out
  }

  /**
   * A SQLite virtual table's definition (`options.virtual`: FTS5 or R*Tree, docs/format.md):
   * checked field by field whether or not the file was made here, since CREATE VIRTUAL TABLE
   * is always built from these fields; its columns must be the table's. Anything else is refused.
   */
  #virtualTable(table: TableSchema, value: unknown): VirtualTableDefinition {
    try {
      const definition = checkVirtualTable(value)
      const names = table.columns.map((c) => c.name)
      if (virtualColumns(definition).join('\u0000') !== names.join('\u0000')) throw new VirtualTableError(`its columns are not the table's (${names.join(', ')})`)
      return definition
    } catch (error) {
      if (!(error instanceof VirtualTableError)) throw error
      throw new FormatError(
        `Table "${table.name}": the virtual table definition (options.virtual) is refused: ${error.message}. Nothing was changed. A backup's virtual tables are rebuilt from checked fields (docs/security.md).`,
        { table: table.name },
      )
    }
  }

  #mysqlOptions(table: TableSchema, options: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const result: Record<string, unknown> = {}
    if (options.sequences !== undefined) result.sequences = this.#sequences(table)
    for (const key of ['engine', 'charset', 'collation'] as const) {
      const value = options[key]
      if (value === undefined || value === null) continue
      if (typeof value === 'string' && PLAIN_NAME.test(value)) result[key] = value
      else this.#unsafe(table, `Table "${table.name}": options.${key} ${JSON.stringify(String(value).slice(0, 100))}`, 'not a name', { option: key }, 'the default is used')
    }
    for (const key of ['storedGenerated', 'indexNames'] as const) {
      if (Array.isArray(options[key])) result[key] = (options[key] as unknown[]).filter((v) => typeof v === 'string')
    }
    if (typeof options.definition === 'string') {
      if (this.#trusted) result.definition = options.definition
      else this.#warn(`Table "${table.name}": the backup's own CREATE TABLE text is not used (the file was not made by this installation); the table is built from its columns.`)
    }
    return result
  }

  #sqliteOptions(table: TableSchema, options: Readonly<Record<string, unknown>>): Record<string, unknown> {
    const result: Record<string, unknown> = {}
    if (typeof options.withoutRowid === 'boolean') result.withoutRowid = options.withoutRowid
    if (typeof options.strict === 'boolean') result.strict = options.strict
    if (typeof options.sequence === 'string' && /^[0-9]{1,19}$/.test(options.sequence)) result.sequence = options.sequence
    if (options.virtual !== undefined) result.virtual = this.#virtualTable(table, options.virtual)
    const triggers = Array.isArray(options.triggers) ? (options.triggers as unknown[]).filter((t) => typeof t === 'string') : []
    if (this.#trusted) {
      if (typeof options.sql === 'string') result.sql = options.sql
      result.triggers = triggers
    } else {
      if (typeof options.sql === 'string') {
        this.#warn(`Table "${table.name}": the backup's own CREATE TABLE text is not used (the file was not made by this installation); the table is built from its columns.`)
      }
      if (triggers.length > 0) this.#warn(`Table "${table.name}": its ${triggers.length} trigger(s) are not recreated (the file was not made by this installation).`)
    }
    return result
  }
}
