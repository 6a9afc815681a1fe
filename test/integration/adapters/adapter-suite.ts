/**
 * The adapter conformance suite (STYLE.md §1.6, after restic's backend test suite): every engine
 * runs the same contract tests against a real database by calling
 *
 *     describeAdapterSuite(factory)
 *
 * from a tiny `test/integration/adapters/<engine>.test.ts`. The factory (AdapterTestFactory below)
 * is all an engine provides: how to make and drop a database, how to create a few simple tables
 * from a portable description, how to insert plain rows, and one engine-specific type matrix
 * (native setup + the exact wire rows expected back).
 *
 * What the suite checks, for every engine:
 *   - describe: tables sorted by name, an unknown name in `tables` is a UsageError naming it;
 *   - the type matrix reads back as the expected wire values, and survives a round trip
 *     (read A → restore into an empty B → read B) unchanged, kinds and types included;
 *   - composite keys, a keyless table with duplicate and NULL rows, a table called `Audit Log`
 *     with awkward column names, empty tables: round trip;
 *   - a 100 000-row table streams in batches no larger than asked, in key order, and a paused
 *     consumer does not make the source buffer the table (heap growth stays small; engines with
 *     a server may also show the server blocked on the client);
 *   - leaving `for await` early closes the read: the same source reads another table after it;
 *   - restore into an empty database recreates keys, unique constraints, indexes, foreign keys
 *     and auto-increment (an insert with a default key works afterwards, above the restored keys);
 *   - restore into an existing schema; writing the same rows twice skips everything the second
 *     time (keyless tables too, counting duplicates, NULL equal to NULL);
 *   - prepare with drop empties the selected tables and touches no other; it refuses when a
 *     table outside the selection has rows referencing a selected one;
 *   - a constraint violation is a DatabaseError naming the table, a failing input (a truncated
 *     file) fails writeRows with that same error, and rollback() leaves the database exactly as
 *     it was (emptied and created tables included, where DDL is transactional);
 *   - readByKeys / updateRows / countRows, inside the write transaction;
 *   - merge-mode prepare refuses missing tables and columns;
 *   - an unreachable server and a missing database are ConnectionErrors, quickly, without the
 *     password in the message.
 *
 * @module
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type {
  Adapter,
  ConnectionConfig,
  DatabaseSchema,
  Engine,
  Row,
  Source,
  TableSchema,
  ValueKind,
  WriteResult,
} from '../../../src/adapters/adapter.js'
import { ConnectionError, DatabaseError, UsageError } from '../../../src/errors.js'

// ---------------------------------------------------------------------------------------------
// What an engine provides
// ---------------------------------------------------------------------------------------------

/** A plain value the suite inserts through the factory (and expects back as the same wire value). */
export type PlainValue = number | string | null

/** A row of plain values. */
export type PlainRow = Readonly<Record<string, PlainValue>>

/** Column types the suite's own tables use. Both have the same wire value on every engine. */
export type PortableColumnType = 'integer' | 'text'

/**
 * A table the suite asks the factory to create with the engine's own DDL. Engines without a
 * feature (see AdapterTestFactory.features) never receive a table that needs it.
 */
export interface PortableTable {
  readonly name: string
  readonly columns: readonly {
    readonly name: string
    readonly type: PortableColumnType
    /** Default true. */
    readonly nullable?: boolean
    /** The engine's auto-increment for an integer primary-key column (serial/identity, AUTO_INCREMENT, INTEGER PRIMARY KEY). */
    readonly autoIncrement?: boolean
  }[]
  /** Primary key columns in key order; absent or empty for a keyless table. */
  readonly primaryKey?: readonly string[]
  readonly unique?: readonly (readonly string[])[]
  readonly indexes?: readonly { readonly name: string; readonly columns: readonly string[] }[]
  readonly foreignKeys?: readonly {
    readonly name: string
    readonly columns: readonly string[]
    readonly referencedTable: string
    readonly referencedColumns: readonly string[]
  }[]
}

/** One database made for a test. Every method uses the engine's own client, never the adapter. */
export interface AdapterTestDatabase {
  /** What the adapter is opened with. */
  readonly config: ConnectionConfig
  createTable(table: PortableTable): Promise<void>
  /** Inserts rows (any number: the factory batches as it likes). Values are plain numbers, strings and nulls. */
  insertRows(table: string, rows: readonly PlainRow[]): Promise<void>
  /** Inserts one row leaving the auto-increment key to the engine; returns the key it assigned. */
  insertWithGeneratedKey(table: string, keyColumn: string, row: PlainRow): Promise<number>
  /** Runs engine-native setup text (SQL for SQL engines). */
  exec(native: string): Promise<void>
  drop(): Promise<void>
}

/**
 * The engine's type matrix: native setup that creates and fills tables with every type the engine
 * supports (extremes, NULLs, empty values), and the exact wire rows the Source must produce for
 * them, in key order. The suite also restores them into an empty database and reads them back.
 */
export interface AdapterTypeMatrix {
  /** Native statements, run in order with `exec`. */
  readonly setup: readonly string[]
  /** Per table: every row, in key order, exactly as the wire encoding has it. */
  readonly expected: Readonly<Record<string, readonly Row[]>>
  /** Per table and column: the ValueKind describe() must report (columns not listed are not checked). */
  readonly kinds?: Readonly<Record<string, Readonly<Record<string, ValueKind>>>>
}

/** Everything an engine gives the suite. */
export interface AdapterTestFactory {
  readonly engine: Engine
  readonly adapter: Adapter
  /** What the engine has; the suite skips the checks that need a missing feature (and says so in the test name). */
  readonly features: {
    readonly compositeKeys: boolean
    /** Tables without any key (whole-row identity). */
    readonly keylessTables: boolean
    readonly foreignKeys: boolean
    readonly notNull: boolean
    readonly autoIncrement: boolean
    /** Secondary indexes that describe() reports and restore recreates. */
    readonly indexes: boolean
    /** prepare('merge') refuses a missing table or a missing column (engines with a fixed schema). Default true. */
    readonly schemaChecks?: boolean
  }
  /** A fresh, empty database (the suite drops it). */
  createDatabase(): Promise<AdapterTestDatabase>
  /** A config whose server cannot be reached (e.g. a closed port on 127.0.0.1), with a password in the URL. Omit for embedded engines. */
  unreachableConfig?(): ConnectionConfig
  /** A config for a database that does not exist on the real server, with a password in the URL. Omit when the engine creates databases on demand. */
  missingDatabaseConfig?(): ConnectionConfig
  readonly typeMatrix: AdapterTypeMatrix
  /**
   * How the Source shows a row the suite inserted with insertRows (default: exactly as inserted,
   * which holds for `integer` and `text` columns on SQL engines). MongoDB, for one, shows the key
   * column as `_id` and numbers in canonical Extended JSON. The suite also passes key-only rows
   * through it to learn the key column names, and rows it writes or updates through the adapter.
   */
  expectedRow?(table: PortableTable, row: Readonly<Record<string, PlainValue>>): Row
  /**
   * Optional evidence of server-side back-pressure: resolves true once `db`'s server shows a read
   * statement blocked on sending to the client (PostgreSQL: wait_event ClientWrite). Called
   * while the consumer has paused after one batch of a large table.
   */
  readBlockedOnClient?(db: AdapterTestDatabase): Promise<boolean>
}

// ---------------------------------------------------------------------------------------------
// Helpers the suite (and engine tests) use
// ---------------------------------------------------------------------------------------------

/** All rows of a table through the adapter, in the order the source gives them. */
export async function readAll(source: Source, table: TableSchema, batchSize = 1000): Promise<Row[]> {
  const rows: Row[] = []
  for await (const batch of source.readTable(table, { batchSize })) rows.push(...batch)
  return rows
}

/** Schema and rows of every table, read through the adapter in one snapshot. */
export interface DatabaseSnapshot {
  readonly schema: DatabaseSchema
  readonly rows: Readonly<Record<string, Row[]>>
}

export async function snapshot(adapter: Adapter, config: ConnectionConfig): Promise<DatabaseSnapshot> {
  const source = await adapter.openSource(config)
  try {
    const schema = await source.describe()
    const rows: Record<string, Row[]> = {}
    for (const table of schema.tables) rows[table.name] = await readAll(source, table)
    return { schema, rows }
  } finally {
    await source.close()
  }
}

/** Rows as an async iterable of batches. */
export async function* batchesOf(rows: readonly Row[], size = 100): AsyncGenerator<Row[]> {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size)
}

/**
 * A restore through the adapter alone: describe A (optionally some tables), prepare B, stream
 * every table from A's source into B's destination, finish, commit.
 */
export async function restoreThroughAdapter(
  adapter: Adapter,
  from: ConnectionConfig,
  to: ConnectionConfig,
  options: { tables?: readonly string[]; drop?: boolean } = {},
): Promise<Record<string, WriteResult>> {
  const source = await adapter.openSource(from)
  const destination = await adapter.openDestination(to)
  try {
    const schema = await source.describe(options.tables ? { tables: options.tables } : undefined)
    await destination.prepare(schema, { mode: 'restore', drop: options.drop ?? false })
    const results: Record<string, WriteResult> = {}
    for (const table of dependencyOrder(schema.tables)) {
      results[table.name] = await destination.writeRows(table, source.readTable(table, { batchSize: 500 }))
    }
    await destination.finish()
    await destination.commit()
    return results
  } catch (error) {
    await destination.rollback(error)
    throw error
  } finally {
    await destination.close()
    await source.close()
  }
}

/** Referenced tables before the tables referencing them (as the transfer engine orders them); cycles keep name order. */
export function dependencyOrder(tables: readonly TableSchema[]): TableSchema[] {
  const names = new Set(tables.map((t) => t.name))
  const done = new Set<string>()
  const ordered: TableSchema[] = []
  while (ordered.length < tables.length) {
    const ready = tables.filter(
      (t) => !done.has(t.name) && t.foreignKeys.every((f) => f.referencedTable === t.name || !names.has(f.referencedTable) || done.has(f.referencedTable)),
    )
    const next = ready.length > 0 ? ready : tables.filter((t) => !done.has(t.name)).slice(0, 1)
    for (const table of next) {
      done.add(table.name)
      ordered.push(table)
    }
  }
  return ordered
}

/** The parts of a table's schema a restore must reproduce (names of generated constraints may differ). */
export function restorableShape(table: TableSchema): unknown {
  return {
    name: table.name,
    columns: table.columns.map((c) => ({ name: c.name, kind: c.kind, elementKind: c.elementKind, nullable: c.nullable })),
    primaryKey: table.primaryKey,
    unique: table.uniqueConstraints.map((u) => u.columns),
    indexes: table.indexes.map((i) => ({ columns: i.columns, unique: i.unique })),
    foreignKeys: table.foreignKeys.map((f) => ({ columns: f.columns, referencedTable: f.referencedTable, referencedColumns: f.referencedColumns })),
  }
}

function tableOf(schema: DatabaseSchema, name: string): TableSchema {
  const table = schema.tables.find((t) => t.name === name)
  if (!table) throw new Error(`table ${name} not in schema (${schema.tables.map((t) => t.name).join(', ')})`)
  return table
}

async function expectRejects<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, `expected a ${type.name}`).toBeInstanceOf(type)
  return error as T
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------------------------
// Fixtures built from portable tables
// ---------------------------------------------------------------------------------------------

const BIG_ROWS = 100_000
/** Wide enough that buffering the whole big table would show in the heap (about 40 MB of text). */
const BIG_PAYLOAD = 'x'.repeat(400)

const PARENT: PortableTable = {
  name: 'parent',
  columns: [
    { name: 'id', type: 'integer', nullable: false, autoIncrement: true },
    { name: 'code', type: 'text', nullable: false },
    { name: 'label', type: 'text' },
  ],
  primaryKey: ['id'],
  unique: [['code']],
  indexes: [{ name: 'parent_label_idx', columns: ['label'] }],
}

const CHILD: PortableTable = {
  name: 'child',
  columns: [
    { name: 'id', type: 'integer', nullable: false },
    { name: 'parent_id', type: 'integer' },
    { name: 'note', type: 'text' },
  ],
  primaryKey: ['id'],
  foreignKeys: [{ name: 'child_parent_fk', columns: ['parent_id'], referencedTable: 'parent', referencedColumns: ['id'] }],
}

const PAIR: PortableTable = {
  name: 'pair',
  columns: [
    { name: 'room', type: 'integer', nullable: false },
    { name: 'guest', type: 'text', nullable: false },
    { name: 'nights', type: 'integer' },
  ],
  primaryKey: ['room', 'guest'],
}

const LOG: PortableTable = {
  name: 'log',
  columns: [
    { name: 'level', type: 'text' },
    { name: 'message', type: 'text' },
    { name: 'count', type: 'integer' },
  ],
}

const AUDIT: PortableTable = {
  name: 'Audit Log',
  columns: [
    { name: 'Entry ID', type: 'integer', nullable: false },
    { name: 'who "did" it', type: 'text' },
    { name: 'select', type: 'text' },
  ],
  primaryKey: ['Entry ID'],
}

const EMPTY: PortableTable = {
  name: 'empty',
  columns: [
    { name: 'id', type: 'integer', nullable: false },
    { name: 'value', type: 'text' },
  ],
  primaryKey: ['id'],
}

const BIG: PortableTable = {
  name: 'big',
  columns: [
    { name: 'id', type: 'integer', nullable: false },
    { name: 'payload', type: 'text' },
  ],
  primaryKey: ['id'],
}

const PARENT_ROWS: PlainRow[] = [
  { id: 1, code: 'a', label: 'first' },
  { id: 2, code: 'b', label: null },
  { id: 7, code: 'c', label: 'seventh' },
]
const CHILD_ROWS: PlainRow[] = [
  { id: 10, parent_id: 1, note: 'x' },
  { id: 11, parent_id: 7, note: null },
  { id: 12, parent_id: null, note: 'orphan by design' },
]
const PAIR_ROWS: PlainRow[] = [
  { room: 1, guest: 'ann', nights: 2 },
  { room: 1, guest: 'bob', nights: null },
  { room: 2, guest: 'ann', nights: 5 },
]
/** Duplicates and NULLs on purpose: whole-row identity must count them. */
const LOG_ROWS: PlainRow[] = [
  { level: 'info', message: 'started', count: 1 },
  { level: 'info', message: 'started', count: 1 },
  { level: null, message: null, count: null },
  { level: null, message: null, count: null },
  { level: 'warn', message: 'tab\there "quoted" \\ back', count: 3 },
]
const AUDIT_ROWS: PlainRow[] = [
  { 'Entry ID': 1, 'who "did" it': 'Zoë 🎉', select: 'line1\nline2' },
  { 'Entry ID': 2, 'who "did" it': '', select: null },
]

/** Multiset comparison: for keyless tables (whose order a restore may not keep) and for readByKeys (order unspecified). */
function sortedForCompare(rows: readonly Row[]): string[] {
  return rows.map((r) => JSON.stringify(r)).sort()
}

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

/** Declares the conformance tests for one engine. Call it at the top level of `<engine>.test.ts`. */
export function describeAdapterSuite(factory: AdapterTestFactory): void {
  const { adapter, features } = factory
  const created: AdapterTestDatabase[] = []
  const fresh = async (): Promise<AdapterTestDatabase> => {
    const db = await factory.createDatabase()
    created.push(db)
    return db
  }
  afterAll(async () => {
    for (const db of created.splice(0)) await db.drop()
  })

  /** Portable tables this engine can hold, in creation order (referenced tables first). */
  const BIG_TABLE = adaptToFeatures(BIG, features)
  const bigRows = (from: number, count: number): Row[] =>
    Array.from({ length: count }, (_, i) => wire(BIG_TABLE, { id: from + i, payload: `${from + i}:${BIG_PAYLOAD}` }))
  const table = (name: string): PortableTable => portableTables().find((t) => t.name === name)!

  const portableTables = (): PortableTable[] =>
    [
      PARENT,
      CHILD,
      features.compositeKeys ? PAIR : undefined,
      features.keylessTables ? LOG : undefined,
      AUDIT,
      EMPTY,
    ]
      .filter((t): t is PortableTable => t !== undefined)
      .map((t) => adaptToFeatures(t, features))

  const wire = (table: PortableTable, row: PlainRow): Row => (factory.expectedRow ? factory.expectedRow(table, row) : { ...row })
  const wireRows = (table: PortableTable, rows: readonly PlainRow[]): Row[] => rows.map((row) => wire(table, row))
  /** The key column names the adapter uses for a portable table (a key-only row, mapped). */
  const keyColumnsOf = (table: PortableTable): string[] =>
    Object.keys(wire(table, Object.fromEntries((table.primaryKey ?? []).map((c) => [c, 1]))))
  /** A key-only wire row for readByKeys / updateRows. */
  const keyRow = (table: PortableTable, row: PlainRow): Row =>
    wire(table, Object.fromEntries((table.primaryKey ?? []).map((c) => [c, row[c]])))

  const portableRows = (): Record<string, PlainRow[]> => ({
    parent: PARENT_ROWS,
    child: CHILD_ROWS,
    ...(features.compositeKeys ? { pair: PAIR_ROWS } : {}),
    ...(features.keylessTables ? { log: LOG_ROWS } : {}),
    'Audit Log': AUDIT_ROWS,
    empty: [],
  })

  async function fillPortable(db: AdapterTestDatabase): Promise<void> {
    for (const table of portableTables()) await db.createTable(table)
    for (const [name, rows] of Object.entries(portableRows())) {
      if (rows.length > 0) await db.insertRows(name, rows)
    }
  }

  describe(`${factory.engine} adapter conformance`, () => {
    let source: AdapterTestDatabase
    beforeAll(async () => {
      source = await fresh()
      for (const statement of factory.typeMatrix.setup) await source.exec(statement)
      await fillPortable(source)
      await source.createTable(BIG_TABLE)
      const rows: PlainRow[] = []
      for (let id = 1; id <= BIG_ROWS; id++) {
        rows.push({ id, payload: `${id}:${BIG_PAYLOAD}` })
        if (rows.length === 10_000) await source.insertRows('big', rows.splice(0))
      }
    })

    it('reports its engine and capabilities on adapter, source and destination', async () => {
      expect(adapter.engine).toBe(factory.engine)
      const src = await adapter.openSource(source.config)
      try {
        expect(src.engine).toBe(factory.engine)
        expect(src.capabilities).toEqual(adapter.capabilities)
      } finally {
        await src.close()
      }
      const target = await fresh()
      const destination = await adapter.openDestination(target.config)
      try {
        expect(destination.engine).toBe(factory.engine)
        expect(destination.capabilities).toEqual(adapter.capabilities)
      } finally {
        await destination.close()
      }
    })

    it('describes tables sorted by name, and names an unknown table in a UsageError', async () => {
      const src = await adapter.openSource(source.config)
      try {
        const schema = await src.describe()
        expect(schema.engine).toBe(factory.engine)
        const names = schema.tables.map((t) => t.name)
        expect(names).toEqual([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)))
        for (const name of [...Object.keys(portableRows()), 'big']) expect(names).toContain(name)
        const only = await src.describe({ tables: ['Audit Log', 'parent'] })
        expect(only.tables.map((t) => t.name)).toEqual(['Audit Log', 'parent'])
        const error = await expectRejects(src.describe({ tables: ['parent', 'no_such_table'] }), UsageError)
        expect(error.message).toContain('no_such_table')
        expect(error.message).toContain('parent')
      } finally {
        await src.close()
      }
    })

    it('reads every type of the engine type matrix as the exact wire values', async () => {
      const snap = await snapshot(adapter, source.config)
      for (const [table, expected] of Object.entries(factory.typeMatrix.expected)) {
        expect(snap.rows[table], `rows of ${table}`).toEqual(expected)
      }
      for (const [table, kinds] of Object.entries(factory.typeMatrix.kinds ?? {})) {
        const schema = tableOf(snap.schema, table)
        for (const [column, kind] of Object.entries(kinds)) {
          expect(schema.columns.find((c) => c.name === column)?.kind, `${table}.${column}`).toBe(kind)
        }
      }
    })

    it('round-trips the type matrix and the portable tables into an empty database unchanged', async () => {
      const target = await fresh()
      const tables = [...Object.keys(factory.typeMatrix.expected), ...Object.keys(portableRows())]
      const results = await restoreThroughAdapter(adapter, source.config, target.config, { tables })
      for (const [table, rows] of Object.entries({ ...factory.typeMatrix.expected, ...portableRows() })) {
        expect(results[table], `write result of ${table}`).toEqual({ inserted: rows.length, skipped: 0 })
      }
      const before = await snapshot(adapter, source.config)
      const after = await snapshot(adapter, target.config)
      for (const table of tables) {
        if (table === 'log') expect(sortedForCompare(after.rows[table])).toEqual(sortedForCompare(before.rows[table]))
        else expect(after.rows[table], `rows of ${table}`).toEqual(before.rows[table])
        const a = tableOf(before.schema, table)
        const b = tableOf(after.schema, table)
        expect(b.columns.map((c) => [c.name, c.type, c.kind, c.elementKind, c.nullable])).toEqual(
          a.columns.map((c) => [c.name, c.type, c.kind, c.elementKind, c.nullable]),
        )
      }
    })

    it('recreates keys, unique constraints, indexes, foreign keys and auto-increment on restore', async () => {
      const target = await fresh()
      await restoreThroughAdapter(adapter, source.config, target.config, { tables: portableTables().map((t) => t.name) })
      const before = await snapshot(adapter, source.config)
      const after = await snapshot(adapter, target.config)
      for (const table of portableTables()) {
        expect(restorableShape(tableOf(after.schema, table.name))).toEqual(restorableShape(tableOf(before.schema, table.name)))
      }
      if (features.autoIncrement) {
        const id = await target.insertWithGeneratedKey('parent', 'id', { code: 'new', label: 'after restore' })
        expect(id).toBeGreaterThan(7)
      }
    })

    it('streams a 100 000-row table in bounded batches, in key order', async () => {
      const src = await adapter.openSource(source.config)
      try {
        const table = tableOf(await src.describe({ tables: ['big'] }), 'big')
        let next = 1
        let batches = 0
        for await (const batch of src.readTable(table, { batchSize: 1000 })) {
          batches++
          expect(batch.length).toBeGreaterThan(0)
          expect(batch.length).toBeLessThanOrEqual(1000)
          expect(batch).toEqual(bigRows(next, batch.length))
          next += batch.length
        }
        expect(next - 1).toBe(BIG_ROWS)
        expect(batches).toBeGreaterThanOrEqual(BIG_ROWS / 1000)
      } finally {
        await src.close()
      }
    })

    it('does not buffer the table while the consumer pauses (pull-based)', async () => {
      const src = await adapter.openSource(source.config)
      try {
        const table = tableOf(await src.describe({ tables: ['big'] }), 'big')
        const iterator = src.readTable(table, { batchSize: 500 })[Symbol.asyncIterator]()
        const first = await iterator.next()
        expect(first.done).toBe(false)
        ;(globalThis as { gc?: () => void }).gc?.()
        const before = process.memoryUsage()
        // An eager source would use this pause to pull the rest of the table (~40 MB of text).
        if (factory.readBlockedOnClient) {
          let blocked = false
          for (let attempt = 0; attempt < 50 && !blocked; attempt++) {
            blocked = await factory.readBlockedOnClient(source)
            if (!blocked) await sleep(100)
          }
          expect(blocked, 'the server waits for the client to read').toBe(true)
        } else {
          await sleep(1000)
        }
        const after = process.memoryUsage()
        const grown = after.heapUsed + after.arrayBuffers - (before.heapUsed + before.arrayBuffers)
        expect(grown).toBeLessThan(20 * 1024 * 1024)
        // Resuming delivers the rest, in order.
        let count = first.value!.length
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
          expect(next.value).toEqual(bigRows(count + 1, next.value.length))
          count += next.value.length
        }
        expect(count).toBe(BIG_ROWS)
      } finally {
        await src.close()
      }
    })

    it('closes the read when the consumer leaves early, and the source stays usable', async () => {
      const src = await adapter.openSource(source.config)
      try {
        const schema = await src.describe()
        const big = tableOf(schema, 'big')
        for (let round = 0; round < 2; round++) {
          let seen = 0
          for await (const batch of src.readTable(big, { batchSize: 100 })) {
            seen += batch.length
            if (seen >= 200) break
          }
          expect(seen).toBe(200)
          expect(await readAll(src, tableOf(schema, 'parent'))).toEqual(wireRows(PARENT, PARENT_ROWS))
        }
        // A consumer that throws is the same as one that breaks.
        await expect(
          (async () => {
            for await (const batch of src.readTable(big, { batchSize: 100 })) if (batch.length > 0) throw new Error('consumer failed')
          })(),
        ).rejects.toThrow('consumer failed')
        expect(await readAll(src, tableOf(schema, 'Audit Log'))).toEqual(wireRows(AUDIT, AUDIT_ROWS))
        const stats = await src.stats()
        expect(stats.engine).toBe(factory.engine)
        expect(stats.tables.find((t) => t.name === 'big')?.rows).toBe(BIG_ROWS)
        expect(stats.tables.find((t) => t.name === 'parent')?.rows).toBe(PARENT_ROWS.length)
      } finally {
        await src.close()
      }
    })

    it('restores into an existing schema, and writing the same rows twice skips every row', async () => {
      const target = await fresh()
      for (const table of portableTables()) await target.createTable(table)
      // Part of the data is there already: one parent, one keyless duplicate.
      await target.insertRows('parent', [PARENT_ROWS[0]])
      if (features.keylessTables) await target.insertRows('log', [LOG_ROWS[0], LOG_ROWS[2]])
      const first = await restoreThroughAdapter(adapter, source.config, target.config, { tables: portableTables().map((t) => t.name) })
      expect(first.parent).toEqual({ inserted: 2, skipped: 1 })
      if (features.keylessTables) expect(first.log).toEqual({ inserted: 3, skipped: 2 })
      const second = await restoreThroughAdapter(adapter, source.config, target.config, { tables: portableTables().map((t) => t.name) })
      for (const [table, rows] of Object.entries(portableRows())) {
        expect(second[table], table).toEqual({ inserted: 0, skipped: rows.length })
      }
      const after = await snapshot(adapter, target.config)
      expect(after.rows.parent).toEqual(wireRows(PARENT, PARENT_ROWS))
      if (features.keylessTables) expect(sortedForCompare(after.rows.log)).toEqual(sortedForCompare(wireRows(LOG, LOG_ROWS)))
      expect(after.rows['Audit Log']).toEqual(wireRows(AUDIT, AUDIT_ROWS))
    })

    it('empties only the selected tables with drop', async () => {
      const target = await fresh()
      await fillPortable(target)
      await target.insertRows('empty', [{ id: 1, value: 'stays' }])
      await target.insertRows('Audit Log', [{ 'Entry ID': 99, 'who "did" it': 'only here', select: null }])
      const before = await snapshot(adapter, target.config)
      const results = await restoreThroughAdapter(adapter, source.config, target.config, { tables: ['Audit Log'], drop: true })
      expect(results['Audit Log']).toEqual({ inserted: AUDIT_ROWS.length, skipped: 0 })
      const after = await snapshot(adapter, target.config)
      expect(after.rows['Audit Log']).toEqual(wireRows(AUDIT, AUDIT_ROWS))
      for (const table of Object.keys(before.rows)) {
        if (table !== 'Audit Log') expect(after.rows[table], `${table} untouched`).toEqual(before.rows[table])
      }
    })

    it.skipIf(!features.foreignKeys)('refuses drop when an unselected table has rows referencing a selected one [needs foreign keys]', async () => {
      const target = await fresh()
      await fillPortable(target)
      const before = await snapshot(adapter, target.config)
      const destination = await adapter.openDestination(target.config)
      try {
        const schema = await destination.describe()
        const error = await expectRejects(
          destination.prepare({ ...schema, tables: [tableOf(schema, 'parent')] }, { mode: 'restore', drop: true }),
          UsageError,
        )
        expect(error.message).toContain('child')
        await destination.rollback(error)
      } finally {
        await destination.close()
      }
      expect(await snapshot(adapter, target.config)).toEqual(before)
    })

    it.skipIf(!features.foreignKeys && !features.notNull)('rolls a failed write back to exactly the database before it', async () => {
      const target = await fresh()
      await fillPortable(target)
      const before = await snapshot(adapter, target.config)
      const destination = await adapter.openDestination(target.config)
      let failure: unknown
      try {
        const schema = await destination.describe()
        await destination.prepare(schema, { mode: 'restore', drop: false })
        const written = await destination.writeRows(
          tableOf(schema, 'Audit Log'),
          batchesOf([wire(AUDIT, { 'Entry ID': 50, 'who "did" it': 'in the failed transaction', select: null })]),
        )
        expect(written).toEqual({ inserted: 1, skipped: 0 })
        // A child of a parent that does not exist, or a parent without its NOT NULL code.
        const [portable, row] = features.foreignKeys
          ? [table('child'), { id: 40, parent_id: 12345, note: 'no such parent' }]
          : [table('parent'), { id: 40, code: null, label: 'code is NOT NULL' }]
        const target = tableOf(schema, portable.name)
        // The violation surfaces in writeRows or, for checks deferred to the end, in finish().
        failure = await destination
          .writeRows(target, batchesOf([wire(portable, row)]))
          .then(() => destination.finish())
          .then(
            () => undefined,
            (error: unknown) => error,
          )
        expect(failure).toBeInstanceOf(DatabaseError)
        expect((failure as DatabaseError).table).toBe(target.name)
      } finally {
        await destination.rollback(failure)
        await destination.close()
      }
      expect(await snapshot(adapter, target.config)).toEqual(before)
    })

    it('passes on the failure of its input mid-write, and rolls back to the database before it', async () => {
      const target = await fresh()
      await fillPortable(target)
      const before = await snapshot(adapter, target.config)
      const destination = await adapter.openDestination(target.config)
      const broken = new Error('backup file truncated')
      let failure: unknown
      try {
        const schema = await destination.describe()
        await destination.prepare({ ...schema, tables: [tableOf(schema, 'Audit Log')] }, { mode: 'restore', drop: true })
        async function* input(): AsyncGenerator<Row[]> {
          yield wireRows(AUDIT, [{ 'Entry ID': 70, 'who "did" it': 'first batch', select: null }])
          throw broken
        }
        failure = await destination.writeRows(tableOf(schema, 'Audit Log'), input()).then(
          () => undefined,
          (error: unknown) => error,
        )
        expect(failure).toBe(broken)
      } finally {
        await destination.rollback(failure)
        await destination.close()
      }
      expect(await snapshot(adapter, target.config)).toEqual(before)
    })

    it('rolls back created tables and closes without commit as a rollback', async () => {
      const target = await fresh()
      const before = await snapshot(adapter, target.config)
      const src = await adapter.openSource(source.config)
      const destination = await adapter.openDestination(target.config)
      try {
        const schema = await src.describe({ tables: ['parent', 'Audit Log'] })
        const prepared = await destination.prepare(schema, { mode: 'restore', drop: false })
        expect([...prepared.created].sort()).toEqual(['Audit Log', 'parent'])
        await destination.writeRows(tableOf(schema, 'parent'), src.readTable(tableOf(schema, 'parent')))
        expect(await destination.countRows('parent')).toBe(PARENT_ROWS.length)
      } finally {
        await destination.close()
        await src.close()
      }
      const after = await snapshot(adapter, target.config)
      if (adapter.capabilities.transactionalDdl) expect(after).toEqual(before)
      else expect(Object.values(after.rows).every((rows) => rows.length === 0)).toBe(true)
    })

    it('reads by key and updates set-wise inside the write transaction', async () => {
      const target = await fresh()
      await fillPortable(target)
      const destination = await adapter.openDestination(target.config)
      try {
        const schema = await destination.describe()
        await destination.prepare({ ...schema, tables: [tableOf(schema, 'parent'), ...(features.compositeKeys ? [tableOf(schema, 'pair')] : [])] }, { mode: 'merge', drop: false })
        const parent = table('parent')
        const parentKey = keyColumnsOf(parent)
        const key = (id: number): Row => keyRow(parent, { id })
        const found = await destination.readByKeys('parent', parentKey, [key(7), key(1), key(404)])
        expect(sortedForCompare(found)).toEqual(sortedForCompare(wireRows(parent, [PARENT_ROWS[0], PARENT_ROWS[2]])))
        expect(await destination.readByKeys('parent', parentKey, [])).toEqual([])
        const many = await destination.readByKeys('parent', parentKey, Array.from({ length: 10_000 }, (_, i) => key(i)))
        expect(sortedForCompare(many)).toEqual(sortedForCompare(wireRows(parent, PARENT_ROWS)))

        const updates = [
          { id: 1, label: 'changed' },
          { id: 2, label: 'also' },
          { id: 404, label: 'nobody' },
        ].map((row) => wire(parent, row))
        expect(await destination.updateRows('parent', parentKey, updates)).toBe(2)
        expect(sortedForCompare(await destination.readByKeys('parent', parentKey, [key(1), key(2)]))).toEqual(
          sortedForCompare(
            wireRows(parent, [
              { id: 1, code: 'a', label: 'changed' },
              { id: 2, code: 'b', label: 'also' },
            ]),
          ),
        )
        if (features.compositeKeys) {
          const pair = table('pair')
          const pairKey = keyColumnsOf(pair)
          const pairs = await destination.readByKeys('pair', pairKey, [keyRow(pair, { room: 1, guest: 'bob' }), keyRow(pair, { room: 2, guest: 'bob' })])
          expect(pairs).toEqual(wireRows(pair, [PAIR_ROWS[1]]))
          expect(await destination.updateRows('pair', pairKey, [wire(pair, { room: 1, guest: 'bob', nights: 9 })])).toBe(1)
          expect(await destination.readByKeys('pair', pairKey, [keyRow(pair, { room: 1, guest: 'bob' })])).toEqual(
            wireRows(pair, [{ room: 1, guest: 'bob', nights: 9 }]),
          )
        }
        const written = await destination.writeRows(tableOf(schema, 'parent'), batchesOf(wireRows(parent, [{ id: 8, code: 'h', label: null }, PARENT_ROWS[1]])))
        expect(written).toEqual({ inserted: 1, skipped: 1 })
        expect(await destination.countRows('parent')).toBe(PARENT_ROWS.length + 1)
        await destination.rollback()
      } finally {
        await destination.close()
      }
      expect((await snapshot(adapter, target.config)).rows.parent).toEqual(wireRows(PARENT, PARENT_ROWS))
    })

    it.skipIf(features.schemaChecks === false)('refuses a merge into a missing table or a table lacking a backup column [needs schema checks]', async () => {
      const target = await fresh()
      await target.createTable(adaptToFeatures({ ...EMPTY, columns: [EMPTY.columns[0]] }, features))
      const src = await adapter.openSource(source.config)
      const destination = await adapter.openDestination(target.config)
      try {
        const schema = await src.describe({ tables: ['empty', 'parent'] })
        const missingTable = await expectRejects(destination.prepare({ ...schema, tables: [tableOf(schema, 'parent')] }, { mode: 'merge', drop: false }), UsageError)
        expect(missingTable.message).toContain('parent')
        const missingColumn = await expectRejects(destination.prepare({ ...schema, tables: [tableOf(schema, 'empty')] }, { mode: 'merge', drop: false }), UsageError)
        expect(missingColumn.message).toContain('value')
      } finally {
        await destination.close()
        await src.close()
      }
    })

    it.skipIf(!factory.unreachableConfig)('fails fast with a ConnectionError when the server cannot be reached, without the password', async () => {
      const config = factory.unreachableConfig!()
      for (const open of [() => adapter.openSource(config), () => adapter.openDestination(config)]) {
        const error = await expectRejects(open(), ConnectionError)
        expect(error.message).not.toContain(passwordOf(config.url))
        expect(error.message).toContain(config.redacted)
      }
    })

    it.skipIf(!factory.missingDatabaseConfig)('fails with a ConnectionError naming a database that does not exist, without the password', async () => {
      const config = factory.missingDatabaseConfig!()
      for (const open of [() => adapter.openSource(config), () => adapter.openDestination(config)]) {
        const error = await expectRejects(open(), ConnectionError)
        expect(error.message).toContain(config.database)
        expect(error.message).not.toContain(passwordOf(config.url))
      }
    })
  })
}

/** Removes from a portable table what the engine lacks (features), keeping the rest. */
function adaptToFeatures(table: PortableTable, features: AdapterTestFactory['features']): PortableTable {
  return {
    ...table,
    columns: table.columns.map((c) => ({ ...c, autoIncrement: features.autoIncrement ? c.autoIncrement : false, nullable: features.notNull ? c.nullable : true })),
    indexes: features.indexes ? table.indexes : [],
    foreignKeys: features.foreignKeys ? table.foreignKeys : [],
  }
}

function passwordOf(url: string): string {
  const match = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:([^@/?#]*)@/i.exec(url)
  if (!match || match[1] === '') throw new Error(`The factory's config must carry a password to check redaction: ${url}`)
  return decodeURIComponent(match[1])
}
