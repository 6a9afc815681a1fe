/**
 * Restore and merge across engines (issue #19): a Destination wrapped so that a backup of one
 * engine written into another is checked against the cross-engine mapping
 * (src/adapters/types/type-mapping.ts) before the target sees it:
 * - prepare() refuses table or column names the target cannot take (nothing is created);
 * - every value written (writeRows, updateRows) is checked against the target column it goes
 *   into; a value the column cannot hold exactly is refused with a DatabaseError naming the
 *   table, the column and the record's key, and the caller rolls everything back;
 * - record lines are never handed over unparsed, so that every value passes the check.
 * A backup of the same engine, or one that does not say its engine, gets the destination as it is.
 *
 * @module
 */
import type { DatabaseSchema, Destination, Engine, Row, TableSchema, WireValue } from '../adapters/adapter.js'
import { checkCrossEngine, valueRefusal } from '../adapters/types/type-mapping.js'
import { DatabaseError } from '../errors.js'

/** `destination`, checking what a backup of `sourceEngine` writes into it. */
export function crossEngineDestination(destination: Destination, sourceEngine: Engine | undefined): Destination {
  if (sourceEngine === undefined || sourceEngine === destination.engine) return destination
  return new CrossEngineDestination(destination, sourceEngine)
}

class CrossEngineDestination implements Destination {
  readonly engine: Engine
  readonly capabilities: Destination['capabilities']
  readonly rowBatchSize: number | undefined
  readonly #inner: Destination
  readonly #source: Engine
  #target: Promise<DatabaseSchema> | undefined
  readonly #backupTables = new Map<string, TableSchema>()

  constructor(inner: Destination, source: Engine) {
    this.#inner = inner
    this.#source = source
    this.engine = inner.engine
    this.capabilities = inner.capabilities
    this.rowBatchSize = inner.rowBatchSize
    // The optional merge fast path stays available (it only reads); writes are always parsed rows.
    if (inner.readRowDigests) this.readRowDigests = (table, columns) => inner.readRowDigests!(table, columns)
    if (inner.deleteRows) this.deleteRows = (table, keyColumns, keys) => inner.deleteRows!(table, keyColumns, keys)
  }

  readRowDigests?: Destination['readRowDigests']
  deleteRows?: Destination['deleteRows']

  describe(): Promise<DatabaseSchema> {
    return this.#inner.describe()
  }

  async prepare(backupSchema: DatabaseSchema, options: Parameters<Destination['prepare']>[1]) {
    checkCrossEngine(backupSchema, this.engine)
    for (const table of backupSchema.tables) this.#backupTables.set(table.name, table)
    const result = await this.#inner.prepare(backupSchema, options)
    this.#target = undefined
    return result
  }

  async acceptsRecordLines(): Promise<boolean> {
    return false
  }

  async writeRows(table: TableSchema, batches: AsyncIterable<Row[]>) {
    const check = await this.#checker(table.name, table)
    return this.#inner.writeRows(table, checked(batches, check))
  }

  readByKeys(table: string, keyColumns: readonly string[], keys: readonly Row[]): Promise<Row[]> {
    return this.#inner.readByKeys(table, keyColumns, keys)
  }

  async updateRows(table: string, keyColumns: readonly string[], rows: readonly Row[]): Promise<number> {
    const check = await this.#checker(table, this.#backupTables.get(table), keyColumns)
    rows.forEach((row, i) => check(row, i))
    return this.#inner.updateRows(table, keyColumns, rows)
  }

  countRows(table: string): Promise<number> {
    return this.#inner.countRows(table)
  }

  finish(): Promise<void> {
    return this.#inner.finish()
  }

  commit(): Promise<void> {
    return this.#inner.commit()
  }

  rollback(cause?: unknown): Promise<void> {
    return this.#inner.rollback(cause)
  }

  close(): Promise<void> {
    return this.#inner.close()
  }

  /** A function that throws for the first value of a row the target column cannot hold. */
  async #checker(tableName: string, backupTable: TableSchema | undefined, keyColumns?: readonly string[]): Promise<(row: Row, index: number) => void> {
    this.#target ??= this.#inner.describe()
    const target = (await this.#target).tables.find((t) => t.name === tableName)
    if (!target || !backupTable) return () => {}
    const targetColumns = new Map(target.columns.map((c) => [c.name, c]))
    const columns = backupTable.columns.flatMap((column) => {
      const into = targetColumns.get(column.name)
      return into ? [{ column, into }] : []
    })
    const key = keyColumns ?? (backupTable.primaryKey.length > 0 ? backupTable.primaryKey : target.primaryKey)
    const engine = this.engine
    const source = this.#source
    return (row, index) => {
      for (const { column, into } of columns) {
        const value = row[column.name]
        const reason = valueRefusal(value, column, into, engine)
        if (reason === undefined) continue
        const rowKey: Record<string, WireValue> | undefined = key.length > 0 ? Object.fromEntries(key.map((k) => [k, row[k] ?? null])) : undefined
        const where = rowKey ? `key ${JSON.stringify(rowKey)}` : `record ${index + 1} (the table has no key)`
        throw new DatabaseError(
          `Cannot write ${tableName}.${column.name} (${where}) from ${source} into ${engine} ${into.type}: ${reason}. Nothing was written.`,
          { table: tableName, key: rowKey ?? { record: index + 1 }, details: { column: column.name, reason, code: 'CROSS_ENGINE_VALUE' } },
        )
      }
    }
  }
}

async function* checked(batches: AsyncIterable<Row[]>, check: (row: Row, index: number) => void): AsyncGenerator<Row[]> {
  let index = 0
  for await (const batch of batches) {
    for (const row of batch) check(row, index++)
    yield batch
  }
}
