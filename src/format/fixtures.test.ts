/**
 * Golden files (test/fixtures/format-v1/): backups as format 1.0 writes them, and the two seed
 * layouts as the seeds' tools wrote them. Each must keep reading the same way forever, whatever
 * chunking the input arrives in; the writer must keep producing the native ones byte for byte.
 *
 * UPDATE_GOLDEN=1 rewrites the two files mergeback writes (only for a deliberate format change).
 */
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import {
  MONGO_SMALL_OPTIONS,
  MONGO_SMALL_TABLES,
  NATIVE_SMALL_OPTIONS,
  NATIVE_SMALL_TABLES,
  readEvents,
  rowsOf,
  writeBackup,
} from '../../test/fixtures/format-v1/fixtures.js'
import { VERSION } from '../version.js'
import type { BackupEvent } from './types.js'

const DIR = fileURLToPath(new URL('../../test/fixtures/format-v1/', import.meta.url))
const NATIVE = 'native-small.json'
const MONGO = 'mongo-native-small.json'
const SMART = 'incremental-backup-2024-01-15T12-00-00.json'
const CRM = 'crm-backup_2025-10-09.json'

function golden(name: string): Buffer {
  return fs.readFileSync(DIR + name)
}

/** The `tool` field is the only one that changes with each release, not with the format. */
function withoutTool(text: string): string {
  return text.replace(/"tool": "[^"]*"/, '"tool": "…"')
}

/** Splits `bytes` in two at every offset (pg-protocol's "split buffer" suites) and reads each way. */
/**
 * One whole read per byte of the file: seconds on an idle machine, several times that on a loaded
 * 2-core one (vitest's 30 s timed out there), so these tests get their own limit.
 */
const EVERY_SPLIT_TIMEOUT_MS = 180_000

async function expectSameEventsAtEverySplit(bytes: Buffer, expected: BackupEvent[]): Promise<void> {
  for (let at = 1; at < bytes.length; at++) {
    const events = await readEvents([bytes.subarray(0, at), bytes.subarray(at)])
    if (JSON.stringify(events) !== JSON.stringify(expected)) expect({ at, events }).toEqual({ at, events: expected })
  }
  const oneByteChunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1))
  expect(await readEvents(oneByteChunks)).toEqual(expected)
}

describe('native golden file (format 1.0)', () => {
  it('is what the writer writes for its tables, byte for byte', async () => {
    const written = await writeBackup(NATIVE_SMALL_TABLES, NATIVE_SMALL_OPTIONS)
    if (process.env.UPDATE_GOLDEN) fs.writeFileSync(DIR + NATIVE, written)
    expect(withoutTool(written.toString('utf8'))).toBe(withoutTool(golden(NATIVE).toString('utf8')))
    expect(written.toString('utf8')).toContain(`"tool": "${VERSION}"`)
  })

  it('reads back every table, schema and value exactly, with verified checksums', async () => {
    const events = await readEvents(golden(NATIVE))
    for (const { schema, rows } of NATIVE_SMALL_TABLES) {
      const table = events.find((event) => event.type === 'table' && event.table.name === schema.name)
      expect(table).toEqual({ type: 'table', table: schema, layout: 'mergeback' })
      expect(rowsOf(events, schema.name)).toEqual(rows)
    }
    expect(events.map((event) => event.type)).toEqual(['table', 'rows', 'tableEnd', 'table', 'rows', 'tableEnd', 'table', 'rows', 'tableEnd', 'table', 'tableEnd', 'metadata'])
    const metadata = events.at(-1)
    expect(metadata).toMatchObject({
      type: 'metadata',
      layout: 'mergeback',
      metadata: { format: 'mergeback', version: '1.0', engine: 'postgres', database: 'app', schema: 'public', tables: ['Kinds', 'RoomAllocation', 'Audit Log', 'Empty'] },
    })
    for (const event of events) {
      if (event.type === 'tableEnd' && metadata?.type === 'metadata') {
        expect(event.checksum).toBe(metadata.metadata.checksums?.[event.table])
        expect(event.count).toBe(metadata.metadata.recordCounts?.[event.table])
      }
    }
  })

  it('is plain JSON with one record per line', () => {
    const text = golden(NATIVE).toString('utf8')
    expect(() => JSON.parse(text)).not.toThrow()
    const lines = text.split('\n')
    expect(lines[0]).toBe('{"tables":[')
    expect(lines[1]).toMatch(/^\{"tableName":"Kinds","primaryKey":"id","columns":\[.*"records":\[$/)
    expect(lines[2]).toBe(`${JSON.stringify(NATIVE_SMALL_TABLES[0]!.rows[0])},`)
    expect(lines.filter((line) => line.startsWith('{"tableName"'))).toHaveLength(4)
  })

  it('reads the same at every split of its bytes', async () => {
    const bytes = golden(NATIVE)
    await expectSameEventsAtEverySplit(bytes, await readEvents(bytes))
  }, EVERY_SPLIT_TIMEOUT_MS)
})

describe('mongo-native golden file (format 1.0)', () => {
  it('is what the writer writes for its collections, byte for byte', async () => {
    const written = await writeBackup(MONGO_SMALL_TABLES, { ...MONGO_SMALL_OPTIONS, tables: MONGO_SMALL_TABLES.map((table) => table.schema) })
    if (process.env.UPDATE_GOLDEN) fs.writeFileSync(DIR + MONGO, written)
    expect(withoutTool(written.toString('utf8'))).toBe(withoutTool(golden(MONGO).toString('utf8')))
  })

  it('has the seed 002 shape: metadata first, then collections of documents', () => {
    const parsed = JSON.parse(golden(MONGO).toString('utf8')) as Record<string, unknown>
    expect(Object.keys(parsed)).toEqual(['metadata', 'collections', 'summary'])
    expect(parsed.metadata).toMatchObject({
      database: 'crm_database',
      timestamp: '2026-11-22T10:30:00.000Z',
      backupName: 'daily-backup',
      description: 'Daily CRM backup',
      version: '1.0',
      collections: ['users', 'roles'],
      compression: 'gzip',
    })
    expect(parsed.collections).toEqual({ users: MONGO_SMALL_TABLES[0]!.rows, roles: [] })
  })

  it('reads back schemas (with indexes) before the documents, and the summary in the metadata', async () => {
    const events = await readEvents(golden(MONGO))
    expect(events[0]).toEqual({ type: 'table', table: MONGO_SMALL_TABLES[0]!.schema, layout: 'mongo-native' })
    expect(rowsOf(events, 'users')).toEqual(MONGO_SMALL_TABLES[0]!.rows)
    const metadata = events.at(-1)
    expect(metadata?.type).toBe('metadata')
    if (metadata?.type !== 'metadata') return
    expect(metadata.layout).toBe('mongo-native')
    expect(metadata.metadata).toMatchObject({ format: 'mergeback', engine: 'mongodb', tables: ['users', 'roles'], recordCounts: { users: 2, roles: 0 } })
    expect(Object.keys(metadata.metadata.checksums ?? {})).toEqual(['users', 'roles'])
  })

  it('reads the same at every split of its bytes', async () => {
    const bytes = golden(MONGO)
    await expectSameEventsAtEverySplit(bytes, await readEvents(bytes))
  }, EVERY_SPLIT_TIMEOUT_MS)
})

describe('seed 000 "Smart Backup" file', () => {
  it('reads as tables of untyped columns named by each first record', async () => {
    const events = await readEvents(golden(SMART))
    const tables = events.flatMap((event) => (event.type === 'table' ? [event] : []))
    expect(tables.map((event) => [event.table.name, event.layout, event.table.primaryKey])).toEqual([
      ['User', 'smart-backup', ['id']],
      ['Registration', 'smart-backup', ['id']],
      ['RoomAllocation', 'smart-backup', ['roomId', 'registrationId']],
      ['Message', 'smart-backup', ['id']],
      ['Room', 'smart-backup', ['id']],
    ])
    expect(tables[0]!.table.columns).toEqual([
      { name: 'id', type: '', kind: 'unknown', nullable: false },
      { name: 'email', type: '', kind: 'unknown', nullable: true },
      { name: 'name', type: '', kind: 'unknown', nullable: true },
      { name: 'createdAt', type: '', kind: 'unknown', nullable: true },
      { name: 'updatedAt', type: '', kind: 'unknown', nullable: true },
    ])
    // An empty table still has its key column.
    expect(tables[4]!.table.columns).toEqual([{ name: 'id', type: '', kind: 'unknown', nullable: false }])
  })

  it('keeps every record as JSON.parse gives it, including keys the first record lacks', async () => {
    const events = await readEvents(golden(SMART))
    const parsed = JSON.parse(golden(SMART).toString('utf8')) as { tables: { tableName: string; records: unknown[] }[]; metadata: unknown }
    for (const table of parsed.tables) expect(rowsOf(events, table.tableName)).toEqual(table.records)
    expect(rowsOf(events, 'User')[2]).toMatchObject({ role: 'ADMIN' })
    expect(events.at(-1)).toEqual({ type: 'metadata', metadata: parsed.metadata, layout: 'smart-backup' })
  })

  it('reads the same at every split of its bytes', async () => {
    const bytes = golden(SMART)
    await expectSameEventsAtEverySplit(bytes, await readEvents(bytes))
  }, EVERY_SPLIT_TIMEOUT_MS)
})

describe('seed 002 "native MongoDB" file', () => {
  it('reads each collection as a table keyed by _id whose columns are its documents\' fields', async () => {
    const events = await readEvents(golden(CRM))
    const parsed = JSON.parse(golden(CRM).toString('utf8')) as { metadata: unknown; collections: Record<string, unknown[]> }
    const tables = events.flatMap((event) => (event.type === 'table' ? [event] : []))
    expect(tables.map((event) => event.table.name)).toEqual(['users', 'departments', 'roles'])
    for (const event of tables) {
      expect(event.layout).toBe('mongo-native')
      expect(event.table.primaryKey).toEqual(['_id'])
      const fields = [...new Set(parsed.collections[event.table.name].flatMap((document) => Object.keys(document as object)))]
      expect(event.table.columns.map((column) => column.name)).toEqual(fields.slice(0, Object.keys(parsed.collections[event.table.name][0] as object).length))
      expect(event.table.columns[0]).toEqual({ name: '_id', type: '', kind: 'unknown', nullable: false })
      expect(rowsOf(events, event.table.name)).toEqual(parsed.collections[event.table.name])
    }
    expect(events.at(-1)).toEqual({ type: 'metadata', metadata: parsed.metadata, layout: 'mongo-native' })
  })

  it('reads the same at every split of its bytes', async () => {
    const bytes = golden(CRM)
    await expectSameEventsAtEverySplit(bytes, await readEvents(bytes))
  }, EVERY_SPLIT_TIMEOUT_MS)
})
