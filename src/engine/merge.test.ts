import { describe, expect, it } from 'vitest'
import type { Capabilities, DatabaseSchema, Destination, Row, TableSchema, WriteResult } from '../adapters/adapter.js'
import { DatabaseError, UsageError } from '../errors.js'
import { mergeInto, readAhead, type MergeInput, type MergeSettings } from './merge.js'

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}

describe('readAhead', () => {
  it('yields everything in order and asks for at most one batch ahead', async () => {
    const asked: number[] = []
    let consumed = 0
    async function* source() {
      for (let i = 0; i < 5; i++) {
        asked.push(i)
        expect(i - consumed).toBeLessThanOrEqual(1)
        yield i
      }
    }
    const out: number[] = []
    for await (const n of readAhead(source())) {
      out.push(n)
      await new Promise((resolve) => setTimeout(resolve, 1))
      consumed++
    }
    expect(out).toEqual([0, 1, 2, 3, 4])
  })

  it('closes the source when the consumer stops early, and passes errors on', async () => {
    let closed = false
    async function* source() {
      try {
        yield 1
        yield 2
        yield 3
      } finally {
        closed = true
      }
    }
    for await (const n of readAhead(source())) if (n === 1) break
    expect(closed).toBe(true)

    async function* failing() {
      yield 1
      throw new Error('boom')
    }
    await expect(collect(readAhead(failing()))).rejects.toThrow('boom')
  })
})

// A small destination in memory, keyed tables only: enough to check what the engine does with
// what a destination answers.
class MemoryDestination implements Destination {
  readonly engine = 'postgres' as const
  readonly capabilities: Capabilities = { consistentSnapshot: true, transactionalWrite: true, transactionalDdl: true, bulkLoad: 'insert-batch' }
  readonly rows = new Map<string, Row>()
  /** Keys writeRows treats as taken but readByKeys does not see (another unique constraint). */
  readonly hidden = new Set<string>()
  /** Rows that appear between a read and the next write (someone else's insert). */
  readonly appearing = new Map<string, Row>()
  finished = false

  constructor(readonly schema: TableSchema) {}

  async describe(): Promise<DatabaseSchema> {
    return { engine: 'postgres', database: 'memory', tables: [this.schema], warnings: [] }
  }
  async prepare() {
    return { created: [], emptied: [], warnings: [] }
  }
  async writeRows(_table: TableSchema, batches: AsyncIterable<Row[]>): Promise<WriteResult> {
    let inserted = 0
    let skipped = 0
    for (const [key, row] of this.appearing) this.rows.set(key, row)
    this.appearing.clear()
    for await (const batch of batches) {
      for (const row of batch) {
        const key = String(row.id)
        if (this.rows.has(key) || this.hidden.has(key)) skipped++
        else {
          this.rows.set(key, { ...row })
          inserted++
        }
      }
    }
    return { inserted, skipped }
  }
  async readByKeys(_table: string, _columns: readonly string[], keys: readonly Row[]): Promise<Row[]> {
    return keys.map((k) => this.rows.get(String(k.id))).filter((r): r is Row => r !== undefined)
  }
  async updateRows(_table: string, _columns: readonly string[], rows: readonly Row[]): Promise<number> {
    let n = 0
    for (const row of rows) {
      const current = this.rows.get(String(row.id))
      if (current) {
        Object.assign(current, row)
        n++
      }
    }
    return n
  }
  async countRows(): Promise<number> {
    return this.rows.size + this.hidden.size
  }
  async finish() {
    this.finished = true
  }
  async commit() {}
  async rollback() {}
  async close() {}
}

const ITEM: TableSchema = {
  name: 'Item',
  columns: [
    { name: 'id', type: 'integer', kind: 'integer', nullable: false },
    { name: 'name', type: 'text', kind: 'text', nullable: true },
  ],
  primaryKey: ['id'],
  uniqueConstraints: [],
  indexes: [],
  foreignKeys: [],
}

const SETTINGS: MergeSettings = {
  strategy: 'backup_wins',
  preserveNewer: true,
  timestampField: null,
  tables: null,
  exclude: null,
  resolutions: [],
  batchSize: 2,
}

function input(rows: Row[], batchSize = 2): MergeInput {
  return {
    tables: [ITEM],
    async *read(tables) {
      async function* batches() {
        for (let i = 0; i < rows.length; i += batchSize) yield rows.slice(i, i + batchSize)
      }
      yield { schema: tables[0], records: rows.length, batches: batches() }
    },
  }
}

describe('mergeInto', () => {
  it('merges batch by batch and counts current-only rows', async () => {
    const destination = new MemoryDestination(ITEM)
    destination.rows.set('1', { id: 1, name: 'one' })
    destination.rows.set('2', { id: 2, name: 'TWO' })
    destination.rows.set('9', { id: 9, name: 'nine' })
    const report = await mergeInto(destination, input([{ id: 1, name: 'one' }, { id: 2, name: 'two' }, { id: 3, name: 'three' }]), SETTINGS)
    expect(report.tables.Item).toMatchObject({ new: 1, unchanged: 1, conflicts: 1, resolved: { backup: 1 }, currentOnly: 1 })
    expect([...destination.rows.values()].map((r) => r.name)).toEqual(['one', 'two', 'nine', 'three'])
    expect(destination.finished).toBe(true)
  })

  it('stops when an insert is skipped, rather than report what it did not do, and says why', async () => {
    const destination = new MemoryDestination(ITEM)
    destination.hidden.add('3')
    const error = await mergeInto(destination, input([{ id: 3, name: 'three' }]), SETTINGS).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DatabaseError)
    expect(error).toMatchObject({ table: 'Item', key: 3 })
    expect((error as Error).message).toMatch(/record 3 could not be inserted: it collides with another record on a unique constraint/)

    const concurrent = new MemoryDestination(ITEM)
    concurrent.appearing.set('4', { id: 4, name: 'theirs' })
    const raced = await mergeInto(concurrent, input([{ id: 4, name: 'four' }]), SETTINGS).catch((e: unknown) => e)
    expect(raced).toBeInstanceOf(DatabaseError)
    expect((raced as Error).message).toMatch(/changed while it was being merged/)
  })

  it('refuses resolutions for tables the merge does not include, before writing', async () => {
    const destination = new MemoryDestination(ITEM)
    const settings = { ...SETTINGS, resolutions: [{ table: 'Other', key: 1, resolution: 'backup' as const }] }
    await expect(mergeInto(destination, input([{ id: 1, name: 'x' }]), settings)).rejects.toBeInstanceOf(UsageError)
    expect(destination.rows.size).toBe(0)
  })

  it('reports a warning for a resolution that matched no conflict', async () => {
    const destination = new MemoryDestination(ITEM)
    const warnings: string[] = []
    const settings = { ...SETTINGS, resolutions: [{ table: 'Item', key: 7, resolution: 'current' as const }] }
    await mergeInto(destination, input([{ id: 1, name: 'x' }]), settings, { onWarning: (w) => warnings.push(w) })
    expect(warnings).toEqual([expect.stringMatching(/Item 7 was not used/)])
  })
})
