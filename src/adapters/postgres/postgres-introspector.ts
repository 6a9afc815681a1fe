/**
 * Describes the tables of one PostgreSQL schema from the system catalogs (the PostgreSQL side of
 * Kysely's DatabaseIntrospector, but complete enough to recreate the tables).
 *
 * Algorithm (six catalog queries, whatever the number of tables):
 *   1. ordinary and partitioned tables of the schema, minus partitions and extension members;
 *   2. their columns: `format_type` (the exact DDL type, e.g. `numeric(10,2)`, `integer[]`),
 *      default (`pg_get_expr`), NOT NULL, identity, generated expression;
 *   3. the types those columns use, resolving domains to their base type and arrays to their
 *      element type (repeated until closed: a domain over an array of a domain …);
 *   4. enum labels, domain definitions and which types have a default btree operator class
 *      (whole-row identity compares those natively and the rest as text);
 *   5. constraints: primary key (in key order), unique, foreign keys (with actions and
 *      deferrability), check and exclusion constraints;
 *   6. the remaining indexes, with `pg_get_indexdef` as the definition.
 *
 * The session's search_path is the described schema, so `format_type` and `pg_get_expr` print
 * objects of that schema unqualified: the text stays valid when restored into another schema.
 *
 * What is not described (and is said in `warnings`): columns of a type mergeback does not know
 * (carried as text), exclusion constraints, foreign keys into other schemas, partitioning
 * (a partitioned table is read through its parent and restored as a plain table).
 *
 * @module
 */
import type { ColumnSchema, DatabaseSchema, ForeignKeySchema, IndexSchema, TableSchema } from '../adapter.js'
import { UsageError } from '../../errors.js'
import { kindOfType, type PgTypeFacts } from './postgres-values.js'

/** The subset of a pg client the introspector uses. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: any[] }>
}

/** A column as the adapter uses it: the portable schema plus what PostgreSQL-specific code needs. */
export interface PgColumn {
  readonly schema: ColumnSchema
  readonly type: PgTypeFacts
  /** The type has a default btree operator class (equality the engine defines). */
  readonly comparable: boolean
  /**
   * The column's collation already sorts text by code point, i.e. by its UTF-8 bytes (`C`, `POSIX`,
   * `ucs_basic`, libc's `C.UTF-8`, or a database default that is one of them): its index order is
   * the key order of adapters/key-order.ts without `COLLATE "C"`, so no sort is needed.
   */
  readonly codePointOrder: boolean
}

/** A table as the adapter uses it. */
export interface PgTable {
  readonly schema: TableSchema
  readonly oid: number
  /** `r` ordinary (read with ONLY, so inheritance children are not read twice), `p` partitioned. */
  readonly relkind: 'r' | 'p'
  readonly columns: readonly PgColumn[]
  /** Unique keys (primary key first) that are DEFERRABLE: ON CONFLICT cannot use them as arbiters. */
  readonly hasDeferrableKey: boolean
  /** The table has INSERT or UPDATE rules: PostgreSQL refuses INSERT … ON CONFLICT on it. */
  readonly hasWriteRules: boolean
}

/** Domain definitions a table's columns use, kept in `TableSchema.options.domains` to recreate them. */
export interface PgDomainDefinition {
  readonly name: string
  readonly baseType: string
  readonly notNull: boolean
  readonly default: string | null
  readonly constraints: readonly { readonly name: string; readonly definition: string }[]
}

/**
 * A user-defined type a table's columns need that is neither an enum nor a domain used by a
 * column itself (those are in `enumValues` / `options.domains`): standalone composite types and
 * range types, and the enums and domains only they use. Kept in `TableSchema.options.types`,
 * dependencies first, so a restore into an empty database can create them.
 */
export type PgTypeDefinition =
  | { readonly kind: 'enum'; readonly name: string; readonly labels: readonly string[] }
  | ({ readonly kind: 'domain' } & PgDomainDefinition)
  | { readonly kind: 'composite'; readonly name: string; readonly attributes: readonly { readonly name: string; readonly type: string }[] }
  | { readonly kind: 'range'; readonly name: string; readonly subtype: string; readonly collation?: string; readonly subtypeOpclass?: string }

export interface PgIntrospection {
  readonly tables: readonly PgTable[]
  readonly warnings: readonly string[]
}

interface TypeRow {
  oid: number
  typname: string
  typtype: string
  typcategory: string
  typelem: number
  typbasetype: number
  typdelim: string
  formatted: string
  typnotnull: boolean
  typdefault: string | null
  basetype_formatted: string | null
  /** From pg_catalog / information_schema, or owned by an extension: never recreated. */
  builtin: boolean
  /** The extension that owns the type (citext, hstore, …), if one does. */
  extension: string | null
  typrelid: number
}

const FK_ACTIONS: Readonly<Record<string, string>> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
}

/** Orders names by JavaScript string order (UTF-16 code units), independent of any database collation. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Describes the tables of `schemaName` (all of them, or only `only`, in which case a missing name
 * is a UsageError that lists the tables there are). Tables come sorted by name.
 */
export async function introspect(client: Queryable, schemaName: string, only?: readonly string[]): Promise<PgIntrospection> {
  const warnings: string[] = []
  const tableRows = (
    await client.query(
      `SELECT c.oid, c.relname, c.relkind,
              EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r WHERE r.ev_class = c.oid AND r.ev_type IN ('2', '3')) AS write_rules,
              -- Row-level security that applies to this user: it may not see every row.
              c.relrowsecurity
                AND NOT (SELECT u.rolsuper OR u.rolbypassrls FROM pg_catalog.pg_roles u WHERE u.rolname = current_user)
                AND (c.relforcerowsecurity OR NOT pg_catalog.pg_has_role(c.relowner, 'USAGE')) AS row_security
         FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                           WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`,
      [schemaName],
    )
  ).rows as { oid: number; relname: string; relkind: 'r' | 'p'; write_rules: boolean; row_security: boolean }[]
  tableRows.sort((a, b) => compareNames(a.relname, b.relname))

  let selected = tableRows
  if (only) {
    const byName = new Map(tableRows.map((t) => [t.relname, t]))
    const missing = only.filter((name) => !byName.has(name))
    if (missing.length > 0) {
      const existing = tableRows.map((t) => t.relname)
      throw new UsageError(
        `No table ${missing.map((m) => JSON.stringify(m)).join(', ')} in schema "${schemaName}". ` +
          (existing.length > 0 ? `Tables there: ${existing.join(', ')}.` : 'The schema has no tables.'),
        { code: 'UNKNOWN_TABLE', details: { missing, existing } },
      )
    }
    const wanted = new Set(only)
    selected = tableRows.filter((t) => wanted.has(t.relname))
  }
  if (!only) warnings.push(...(await viewWarnings(client, schemaName)))
  const filtered = selected.filter((t) => t.row_security).map((t) => `"${t.relname}"`)
  if (filtered.length > 0) {
    warnings.push(
      `Row-level security applies to ${filtered.join(', ')} for this database user: its policies may hide rows from it, so the ` +
        `backup may hold only the rows this user can see. For a complete backup, connect as the table owner (without FORCE ROW ` +
        `LEVEL SECURITY), a superuser or a role with BYPASSRLS.`,
    )
  }
  if (selected.length === 0) return { tables: [], warnings }
  const oids = selected.map((t) => t.oid)

  const columnRows = (
    await client.query(
      `SELECT a.attrelid, a.attnum, a.attname, a.atttypid,
              pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
              a.attnotnull, a.attidentity, a.attgenerated,
              pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS expression,
              COALESCE((SELECT CASE WHEN co.collprovider = 'd'
                                    -- the database's default (datlocprovider is PostgreSQL 15's; 'c' before)
                                    THEN (SELECT COALESCE(pg_catalog.to_jsonb(db) ->> 'datlocprovider', 'c') = 'c'
                                                 AND db.datcollate IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8')
                                            FROM pg_catalog.pg_database db WHERE db.datname = pg_catalog.current_database())
                                    ELSE co.collprovider = 'c' AND co.collcollate IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8') END
                          FROM pg_catalog.pg_collation co WHERE co.oid = a.attcollation), false) AS code_point_order,
              EXISTS (SELECT 1 FROM pg_catalog.pg_depend dep
                        JOIN pg_catalog.pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
                       WHERE dep.classid = 'pg_catalog.pg_attrdef'::regclass AND dep.objid = d.oid
                         AND dep.refclassid = 'pg_catalog.pg_class'::regclass) AS uses_sequence
         FROM pg_catalog.pg_attribute a
         LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attrelid, a.attnum`,
      [oids],
    )
  ).rows as {
    attrelid: number
    attnum: number
    attname: string
    atttypid: number
    type: string
    attnotnull: boolean
    attidentity: string
    attgenerated: string
    expression: string | null
    code_point_order: boolean
    uses_sequence: boolean
  }[]

  const types = await loadTypes(client, [...new Set(columnRows.map((c) => c.atttypid))])
  const enumOids = [...types.values()].filter((t) => t.typtype === 'e').map((t) => t.oid)
  const domainOids = [...types.values()].filter((t) => t.typtype === 'd').map((t) => t.oid)
  // One statement at a time: a pg client runs them in sequence anyway.
  const enumRows = await client.query(
    `SELECT enumtypid, enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = ANY($1::oid[]) ORDER BY enumtypid, enumsortorder`,
    [enumOids],
  )
  const domainConstraintRows = await client.query(
    `SELECT contypid, conname, pg_catalog.pg_get_constraintdef(oid) AS definition
       FROM pg_catalog.pg_constraint WHERE contypid = ANY($1::oid[]) ORDER BY contypid, conname`,
    [domainOids],
  )
  const btreeRows = await client.query(
    `SELECT DISTINCT oc.opcintype FROM pg_catalog.pg_opclass oc
       JOIN pg_catalog.pg_am am ON am.oid = oc.opcmethod
      WHERE am.amname = 'btree' AND oc.opcdefault`,
  )
  const enumLabels = new Map<number, string[]>()
  for (const row of enumRows.rows as { enumtypid: number; enumlabel: string }[]) {
    const labels = enumLabels.get(row.enumtypid) ?? []
    labels.push(row.enumlabel)
    enumLabels.set(row.enumtypid, labels)
  }
  const domainConstraints = new Map<number, { name: string; definition: string }[]>()
  for (const row of domainConstraintRows.rows as { contypid: number; conname: string; definition: string }[]) {
    const list = domainConstraints.get(row.contypid) ?? []
    list.push({ name: row.conname, definition: row.definition })
    domainConstraints.set(row.contypid, list)
  }
  const btreeTypes = new Set((btreeRows.rows as { opcintype: number }[]).map((r) => r.opcintype))
  const userTypes = await collectUserTypes(client, types, enumLabels, domainConstraints, warnings)

  const constraintRows = (
    await client.query(
      `SELECT con.conrelid, con.conname, con.contype, con.conkey, con.confkey, con.confdeltype, con.confupdtype,
              con.condeferrable, fr.relname AS ref_table, fn.nspname AS ref_schema,
              pg_catalog.pg_get_constraintdef(con.oid) AS definition
         FROM pg_catalog.pg_constraint con
         LEFT JOIN pg_catalog.pg_class fr ON fr.oid = con.confrelid
         LEFT JOIN pg_catalog.pg_namespace fn ON fn.oid = fr.relnamespace
        WHERE con.conrelid = ANY($1::oid[]) AND con.contype IN ('p', 'u', 'f', 'c', 'x')
        ORDER BY con.conrelid, con.conname`,
      [oids],
    )
  ).rows as {
    conrelid: number
    conname: string
    contype: 'p' | 'u' | 'f' | 'c' | 'x'
    conkey: number[] | null
    confkey: number[] | null
    confdeltype: string
    confupdtype: string
    condeferrable: boolean
    ref_table: string | null
    ref_schema: string | null
    definition: string
  }[]

  const indexRows = (
    await client.query(
      `SELECT i.indrelid, ic.relname AS name, i.indisunique, pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
              ARRAY(SELECT CASE WHEN i.indkey[k - 1] <> 0
                                 THEN (SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1])
                                 ELSE pg_catalog.pg_get_indexdef(i.indexrelid, k, true) END
                      FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k) AS columns,
              i.indexprs IS NOT NULL AS expression, i.indpred IS NOT NULL AS partial
         FROM pg_catalog.pg_index i
         JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indrelid = ANY($1::oid[])
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint con
                           WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
        ORDER BY i.indrelid, ic.relname`,
      [oids],
    )
  ).rows as { indrelid: number; name: string; indisunique: boolean; definition: string; columns: string[]; expression: boolean; partial: boolean }[]

  // Tables the partitions of a partitioned table reference through their own foreign keys (not
  // inherited from the parent's): the parent's rows go into those partitions, so a restore must
  // load the referenced tables first (options.partitionReferences, read by engine/table-order.ts).
  const partitionReferenceRows = (
    await client.query(
      `SELECT DISTINCT p.oid AS parent, rc.relname AS referenced
         FROM pg_catalog.pg_class p
         CROSS JOIN LATERAL pg_catalog.pg_partition_tree(p.oid) AS tree
         JOIN pg_catalog.pg_constraint con ON con.conrelid = tree.relid AND con.contype = 'f' AND con.conparentid = 0
         JOIN pg_catalog.pg_class rc ON rc.oid = COALESCE(pg_catalog.pg_partition_root(con.confrelid), con.confrelid)
        WHERE p.oid = ANY($1::oid[]) AND p.relkind = 'p' AND tree.relid <> p.oid AND rc.relnamespace = p.relnamespace AND rc.oid <> p.oid
        ORDER BY 2`,
      [oids],
    )
  ).rows as { parent: number; referenced: string }[]

  // Referenced tables' column names, for foreign keys (the referenced table may not be selected).
  const foreignKeyTableOids = [...new Set(constraintRows.filter((c) => c.contype === 'f').map((c) => c.conrelid))]
  const referencedColumnNames = await loadForeignKeyColumns(client, foreignKeyTableOids)

  const tables: PgTable[] = selected.map((table) => {
    const attnames = new Map<number, string>()
    const columns: PgColumn[] = []
    const domains: PgDomainDefinition[] = []
    for (const row of columnRows) {
      if (row.attrelid !== table.oid) continue
      attnames.set(row.attnum, row.attname)
      const declared = types.get(row.atttypid)!
      const facts = typeFacts(types, row.atttypid)
      const { kind, elementKind } = kindOfType(facts)
      if (kind === 'unknown' || elementKind === 'unknown') {
        warnings.push(
          `Column "${table.relname}"."${row.attname}" has type ${row.type}, which mergeback does not know: ` +
            `its values are carried as PostgreSQL's text output and cast back on restore.`,
        )
      }
      if (declared.typtype === 'd') {
        domains.push(domainDefinition(declared, domainConstraints.get(declared.oid) ?? []))
      }
      const enumType = kind === 'enum' ? resolveEnum(types, row.atttypid) : kind === 'array' && elementKind === 'enum' ? resolveEnum(types, elementOf(types, row.atttypid)) : undefined
      const schema: ColumnSchema = {
        name: row.attname,
        type: row.type,
        kind,
        ...(elementKind ? { elementKind } : {}),
        nullable: !row.attnotnull,
        default: row.attgenerated === 's' ? null : row.expression,
        ...(row.attidentity === 'a' ? { identity: 'always' as const } : row.attidentity === 'd' ? { identity: 'by-default' as const } : {}),
        ...(row.uses_sequence && row.attgenerated !== 's' && /\bnextval\(/.test(row.expression ?? '') ? { autoIncrement: true } : {}),
        ...(row.attgenerated === 's' && row.expression ? { generated: row.expression } : {}),
        ...(enumType ? { enumValues: enumLabels.get(enumType.oid) ?? [], enumName: enumType.formatted } : {}),
      }
      columns.push({ schema, type: facts, comparable: isComparable(types, btreeTypes, row.atttypid), codePointOrder: row.code_point_order })
    }
    const names = (keys: number[] | null): string[] => (keys ?? []).map((k) => attnames.get(k) ?? `#${k}`)

    let primaryKey: string[] = []
    const uniqueConstraints: { name: string; columns: string[] }[] = []
    const foreignKeys: ForeignKeySchema[] = []
    const checks: { name: string; definition: string }[] = []
    let hasDeferrableKey = false
    for (const con of constraintRows) {
      if (con.conrelid !== table.oid) continue
      switch (con.contype) {
        case 'p':
          primaryKey = names(con.conkey)
          hasDeferrableKey ||= con.condeferrable
          break
        case 'u':
          uniqueConstraints.push({ name: con.conname, columns: names(con.conkey) })
          hasDeferrableKey ||= con.condeferrable
          break
        case 'f': {
          if (con.ref_schema !== schemaName) {
            warnings.push(
              `Foreign key "${con.conname}" of "${table.relname}" references "${con.ref_schema}"."${con.ref_table}" in another schema: it is described but not recreated on restore.`,
            )
          }
          const refNames = referencedColumnNames.get(con.conrelid)
          foreignKeys.push({
            name: con.conname,
            columns: names(con.conkey),
            referencedTable: con.ref_table ?? '',
            referencedColumns: (con.confkey ?? []).map((k) => refNames?.get(`${con.conname}:${k}`) ?? `#${k}`),
            onDelete: FK_ACTIONS[con.confdeltype] ?? 'NO ACTION',
            onUpdate: FK_ACTIONS[con.confupdtype] ?? 'NO ACTION',
            deferrable: con.condeferrable,
          })
          break
        }
        case 'c':
          checks.push({ name: con.conname, definition: con.definition })
          break
        case 'x':
          warnings.push(
            `Exclusion constraint "${con.conname}" of "${table.relname}" (${con.definition}) is not carried in the backup schema: recreate it by hand after a restore into an empty database.`,
          )
          break
      }
    }
    const indexes: IndexSchema[] = indexRows
      .filter((index) => index.indrelid === table.oid)
      // Plain key columns by name (unquoted, as every engine's column names are); an expression
      // key by its text, marked, so that another engine leaves the index out with a warning.
      .map((index) => ({
        name: index.name,
        columns: index.columns,
        unique: index.indisunique,
        definition: index.definition,
        ...(index.expression || index.partial ? { options: { ...(index.expression ? { expression: true } : {}), ...(index.partial ? { partial: true } : {}) } } : {}),
      }))
    if (table.relkind === 'p') {
      warnings.push(`"${table.relname}" is a partitioned table: its rows are read through it, and a restore creates it as a plain table.`)
    }
    const options: Record<string, unknown> = {}
    if (checks.length > 0) options.checks = checks
    if (domains.length > 0) options.domains = domains
    const needed = userTypes.forColumns(columnRows.filter((row) => row.attrelid === table.oid).map((row) => row.atttypid))
    if (needed.types.length > 0) options.types = needed.types
    if (needed.extensions.length > 0) options.extensions = needed.extensions
    if (table.relkind === 'p') options.partitioned = true
    const partitionReferences = partitionReferenceRows.filter((r) => r.parent === table.oid).map((r) => r.referenced)
    if (partitionReferences.length > 0) options.partitionReferences = partitionReferences
    return {
      oid: table.oid,
      relkind: table.relkind,
      columns,
      hasDeferrableKey,
      hasWriteRules: table.write_rules,
      schema: {
        name: table.relname,
        columns: columns.map((c) => c.schema),
        primaryKey,
        uniqueConstraints,
        indexes,
        foreignKeys,
        ...(Object.keys(options).length > 0 ? { options } : {}),
      },
    }
  })
  return { tables, warnings }
}

/** Wraps an introspection as the portable DatabaseSchema. */
export function toDatabaseSchema(introspection: PgIntrospection, database: string, schema: string): DatabaseSchema {
  return {
    engine: 'postgres',
    database,
    schema,
    tables: introspection.tables.map((t) => t.schema),
    warnings: introspection.warnings,
  }
}

async function loadTypes(client: Queryable, initial: number[]): Promise<Map<number, TypeRow>> {
  const types = new Map<number, TypeRow>()
  let pending = initial
  // Domains point at base types and arrays at element types; follow until nothing is new.
  while (pending.length > 0) {
    const rows = (
      await client.query(
        `SELECT t.oid, t.typname, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typdelim,
                pg_catalog.format_type(t.oid, NULL) AS formatted, t.typnotnull, t.typdefault,
                CASE WHEN t.typtype = 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END AS basetype_formatted,
                t.typrelid,
                (SELECT e.extname FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
                  WHERE d.classid = 'pg_catalog.pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
                    AND d.refclassid = 'pg_catalog.pg_extension'::regclass LIMIT 1) AS extension,
                (n.nspname IN ('pg_catalog', 'information_schema')
                 OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                             WHERE d.classid = 'pg_catalog.pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')) AS builtin
           FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
          WHERE t.oid = ANY($1::oid[])`,
        [pending],
      )
    ).rows as TypeRow[]
    for (const row of rows) types.set(row.oid, row)
    pending = [...new Set(rows.flatMap((r) => [r.typelem, r.typbasetype]).filter((oid) => oid !== 0 && !types.has(oid)))]
  }
  return types
}

/**
 * Views and materialized views are not data and are not backed up (issue #14 item 8): said once
 * per backup of the whole schema, naming them, so nobody expects them after a restore into an
 * empty database. A materialized view's rows come back with REFRESH once it is recreated.
 */
async function viewWarnings(client: Queryable, schemaName: string): Promise<string[]> {
  const rows = (
    await client.query(
      `SELECT c.relname, c.relkind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relkind IN ('v', 'm')
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                           WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`,
      [schemaName],
    )
  ).rows as { relname: string; relkind: 'v' | 'm' }[]
  const list = (kind: 'v' | 'm'): string[] => rows.filter((r) => r.relkind === kind).map((r) => `"${r.relname}"`).sort(compareNames)
  const out: string[] = []
  const views = list('v')
  if (views.length > 0) {
    out.push(`View${views.length > 1 ? 's' : ''} ${views.join(', ')} ${views.length > 1 ? 'are' : 'is'} not backed up (a view holds no data): recreate ${views.length > 1 ? 'them' : 'it'} after a restore into an empty database.`)
  }
  const materialized = list('m')
  if (materialized.length > 0) {
    out.push(
      `Materialized view${materialized.length > 1 ? 's' : ''} ${materialized.join(', ')} ${materialized.length > 1 ? 'are' : 'is'} not backed up: ` +
        `recreate ${materialized.length > 1 ? 'them' : 'it'} after a restore into an empty database (REFRESH MATERIALIZED VIEW computes the rows again from the tables).`,
    )
  }
  return out
}

/**
 * The composite and range types columns need, with the enums, domains and other composites and
 * ranges inside them, dependencies first (PgTypeDefinition). Types of pg_catalog or of an
 * extension are never included; a column of another table's row type is warned about.
 */
async function collectUserTypes(
  client: Queryable,
  types: Map<number, TypeRow>,
  enumLabels: Map<number, string[]>,
  domainConstraints: Map<number, { name: string; definition: string }[]>,
  warnings: string[],
): Promise<{ forColumns(oids: readonly number[]): { types: PgTypeDefinition[]; extensions: string[] } }> {
  const composites = [...types.values()].filter((t) => t.typtype === 'c' && !t.builtin)
  const ranges = [...types.values()].filter((t) => t.typtype === 'r' && !t.builtin)
  const hasExtensionTypes = [...types.values()].some((t) => t.extension !== null)
  if (composites.length === 0 && ranges.length === 0 && !hasExtensionTypes) return { forColumns: () => ({ types: [], extensions: [] }) }
  const attributes = new Map<number, { name: string; oid: number; type: string }[]>()
  const relkinds = new Map<number, string>()
  const rangeFacts = new Map<number, { subtype: number; subtype_formatted: string; collation: string | null; opclass: string | null; opcdefault: boolean; canonical: boolean }>()
  let pendingComposites = composites
  let pendingRanges = ranges
  // Attributes and subtypes may be composites, ranges, enums or domains not seen yet: load until closed.
  while (pendingComposites.length > 0 || pendingRanges.length > 0) {
    const attributeRows = (
      await client.query(
        `SELECT t.oid AS type_oid, c.relkind, a.attname, a.atttypid, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
           FROM pg_catalog.pg_type t
           JOIN pg_catalog.pg_class c ON c.oid = t.typrelid
           LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
          WHERE t.oid = ANY($1::oid[])
          ORDER BY t.oid, a.attnum`,
        [pendingComposites.map((t) => t.oid)],
      )
    ).rows as { type_oid: number; relkind: string; attname: string | null; atttypid: number | null; type: string | null }[]
    const rangeRows = (
      await client.query(
        `SELECT r.rngtypid, r.rngsubtype, pg_catalog.format_type(r.rngsubtype, NULL) AS subtype_formatted,
                CASE WHEN r.rngcollation <> 0 THEN (SELECT pg_catalog.quote_ident(co.collname) FROM pg_catalog.pg_collation co WHERE co.oid = r.rngcollation) END AS collation,
                (SELECT pg_catalog.quote_ident(oc.opcname) FROM pg_catalog.pg_opclass oc WHERE oc.oid = r.rngsubopc) AS opclass,
                (SELECT oc.opcdefault FROM pg_catalog.pg_opclass oc WHERE oc.oid = r.rngsubopc) AS opcdefault,
                r.rngcanonical <> 0 AS canonical
           FROM pg_catalog.pg_range r WHERE r.rngtypid = ANY($1::oid[])`,
        [pendingRanges.map((t) => t.oid)],
      )
    ).rows as { rngtypid: number; rngsubtype: number; subtype_formatted: string; collation: string | null; opclass: string | null; opcdefault: boolean; canonical: boolean }[]
    for (const row of attributeRows) {
      relkinds.set(row.type_oid, row.relkind)
      const list = attributes.get(row.type_oid) ?? []
      if (row.attname !== null && row.atttypid !== null && row.type !== null) list.push({ name: row.attname, oid: row.atttypid, type: row.type })
      attributes.set(row.type_oid, list)
    }
    for (const row of rangeRows) {
      rangeFacts.set(row.rngtypid, { subtype: row.rngsubtype, subtype_formatted: row.subtype_formatted, collation: row.collation, opclass: row.opclass, opcdefault: row.opcdefault, canonical: row.canonical })
    }
    const known = new Set(types.keys())
    const next = [...attributeRows.map((r) => r.atttypid ?? 0), ...rangeRows.map((r) => r.rngsubtype)].filter((oid) => oid !== 0 && !known.has(oid))
    const loaded = await loadTypes(client, [...new Set(next)])
    const fresh = [...loaded.values()].filter((t) => !types.has(t.oid))
    for (const t of fresh) types.set(t.oid, t)
    // Enum labels and domain constraints of types first met inside a composite or range.
    const freshEnums = fresh.filter((t) => t.typtype === 'e').map((t) => t.oid)
    if (freshEnums.length > 0) {
      const rows = (await client.query(`SELECT enumtypid, enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = ANY($1::oid[]) ORDER BY enumtypid, enumsortorder`, [freshEnums]))
        .rows as { enumtypid: number; enumlabel: string }[]
      for (const row of rows) enumLabels.set(row.enumtypid, [...(enumLabels.get(row.enumtypid) ?? []), row.enumlabel])
    }
    const freshDomains = fresh.filter((t) => t.typtype === 'd').map((t) => t.oid)
    if (freshDomains.length > 0) {
      const rows = (
        await client.query(
          `SELECT contypid, conname, pg_catalog.pg_get_constraintdef(oid) AS definition FROM pg_catalog.pg_constraint WHERE contypid = ANY($1::oid[]) ORDER BY contypid, conname`,
          [freshDomains],
        )
      ).rows as { contypid: number; conname: string; definition: string }[]
      for (const row of rows) domainConstraints.set(row.contypid, [...(domainConstraints.get(row.contypid) ?? []), { name: row.conname, definition: row.definition }])
    }
    pendingComposites = fresh.filter((t) => t.typtype === 'c' && !t.builtin)
    pendingRanges = fresh.filter((t) => t.typtype === 'r' && !t.builtin)
  }
  const warned = new Set<number>()
  return {
    forColumns(oids) {
      const out: PgTypeDefinition[] = []
      const extensions = new Set<string>()
      // Visited per (type, inside): an enum a column uses directly (created from its column) may
      // also sit inside a composite, which then needs it first.
      const done = new Set<string>()
      const visit = (oid: number, inside: boolean): void => {
        const type = types.get(oid)
        if (type?.extension) extensions.add(type.extension)
        if (!type || type.builtin || done.has(`${oid}:${inside}`)) return
        done.add(`${oid}:${inside}`)
        if (out.some((t) => t.name === type.formatted)) return
        if (type.typcategory === 'A' && type.typelem !== 0) return visit(type.typelem, inside)
        if (type.typtype === 'd') {
          visit(type.typbasetype, inside)
          if (inside) out.push({ kind: 'domain', ...domainDefinition(type, domainConstraints.get(oid) ?? []) })
        } else if (type.typtype === 'e') {
          if (inside) out.push({ kind: 'enum', name: type.formatted, labels: enumLabels.get(oid) ?? [] })
        } else if (type.typtype === 'c') {
          if (relkinds.get(oid) !== 'c') {
            if (!warned.has(oid)) {
              warned.add(oid)
              warnings.push(`Type ${type.formatted} is the row type of a table: a column of that type is not recreated in an empty database unless that table is restored first.`)
            }
            return
          }
          for (const attribute of attributes.get(oid) ?? []) visit(attribute.oid, true)
          out.push({ kind: 'composite', name: type.formatted, attributes: (attributes.get(oid) ?? []).map((a) => ({ name: a.name, type: a.type })) })
        } else if (type.typtype === 'r') {
          const range = rangeFacts.get(oid)
          if (!range) return
          visit(range.subtype, true)
          if (range.canonical && !warned.has(oid)) {
            warned.add(oid)
            warnings.push(`Range type ${type.formatted} has a canonical function, which is not carried: a restore into an empty database creates it without one.`)
          }
          out.push({
            kind: 'range',
            name: type.formatted,
            subtype: range.subtype_formatted,
            ...(range.collation ? { collation: range.collation } : {}),
            ...(range.opclass && !range.opcdefault ? { subtypeOpclass: range.opclass } : {}),
          })
        }
      }
      for (const oid of oids) visit(oid, false)
      return { types: out, extensions: [...extensions].sort() }
    },
  }
}

function resolveDomain(types: Map<number, TypeRow>, oid: number): TypeRow {
  let type = types.get(oid)!
  while (type.typtype === 'd') type = types.get(type.typbasetype)!
  return type
}

function elementOf(types: Map<number, TypeRow>, oid: number): number {
  return resolveDomain(types, oid).typelem
}

function resolveEnum(types: Map<number, TypeRow>, oid: number): TypeRow | undefined {
  const type = resolveDomain(types, oid)
  return type.typtype === 'e' ? type : undefined
}

function typeFacts(types: Map<number, TypeRow>, oid: number): PgTypeFacts {
  const type = resolveDomain(types, oid)
  const isArray = type.typcategory === 'A' && type.typelem !== 0
  const element = isArray ? typeFacts(types, type.typelem) : undefined
  return {
    name: type.typname,
    typtype: type.typtype,
    category: type.typcategory,
    delimiter: element ? types.get(resolveDomain(types, type.typelem).oid)!.typdelim : type.typdelim,
    ...(element ? { element } : {}),
  }
}

function isComparable(types: Map<number, TypeRow>, btree: Set<number>, oid: number): boolean {
  const type = resolveDomain(types, oid)
  if (type.typtype === 'e') return true
  if (type.typcategory === 'A' && type.typelem !== 0) return isComparable(types, btree, type.typelem)
  return btree.has(type.oid)
}

function domainDefinition(type: TypeRow, constraints: { name: string; definition: string }[]): PgDomainDefinition {
  return {
    name: type.formatted,
    baseType: type.basetype_formatted ?? 'text',
    notNull: type.typnotnull,
    default: type.typdefault,
    constraints,
  }
}

/** For each foreign key (by table oid, then `name:attnum`), the referenced column names. */
async function loadForeignKeyColumns(client: Queryable, tableOids: number[]): Promise<Map<number, Map<string, string>>> {
  const result = new Map<number, Map<string, string>>()
  if (tableOids.length === 0) return result
  const rows = (
    await client.query(
      `SELECT con.conrelid, con.conname, k.attnum, a.attname
         FROM pg_catalog.pg_constraint con
         CROSS JOIN LATERAL unnest(con.confkey) AS k(attnum)
         JOIN pg_catalog.pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum
        WHERE con.conrelid = ANY($1::oid[]) AND con.contype = 'f'`,
      [tableOids],
    )
  ).rows as { conrelid: number; conname: string; attnum: number; attname: string }[]
  for (const row of rows) {
    const map = result.get(row.conrelid) ?? new Map<string, string>()
    map.set(`${row.conname}:${row.attnum}`, row.attname)
    result.set(row.conrelid, map)
  }
  return result
}
