import { PassThrough, Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import type { Row, TableSchema } from '../adapters/adapter.js'
import { InternalError, UsageError } from '../errors.js'
import { NATIVE_SMALL_NOW, readEvents, writeBackup } from '../../test/fixtures/format-v1/fixtures.js'
import { checksumOfRecords } from './checksum.js'
import { stripStamps } from '../storage/row-stamps.js'
import { BackupWriter, defaultBackupFileName, encodeTableHeader } from './writer.js'

const USER: TableSchema = {
  name: 'User',
  columns: [
    { name: 'id', type: 'text', kind: 'text', nullable: false },
    { name: 'n', type: 'integer', kind: 'integer', nullable: true },
  ],
  primaryKey: ['id'],
  uniqueConstraints: [],
  indexes: [{ name: 'user_n_idx', columns: ['n'], unique: false }],
  foreignKeys: [],
}

function table(name: string, primaryKey: string[] = []): TableSchema {
  return { name, columns: [{ name: 'a', type: 'text', kind: 'text', nullable: true }], primaryKey, uniqueConstraints: [], indexes: [], foreignKeys: [] }
}

function memoryOut(): { out: Writable; text: () => string; chunks: Buffer[] } {
  const chunks: Buffer[] = []
  const out = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk)
      callback()
    },
  })
  return { out, text: () => Buffer.concat(chunks).toString('utf8'), chunks }
}

const OPTIONS = { engine: 'postgres', database: 'app', backupName: 'daily', compression: 'none', now: NATIVE_SMALL_NOW } as const

describe('BackupWriter, native layout', () => {
  it('writes the documented bytes: header line, one record per line, metadata last', async () => {
    const { out, text } = memoryOut()
    const writer = new BackupWriter(out, OPTIONS)
    await writer.beginTable(USER)
    await writer.writeRows([{ id: 'u1', n: 1 }])
    await writer.writeRows([{ id: 'u2', n: null }])
    await writer.endTable()
    await writer.beginTable(table('Audit Log'))
    await writer.endTable()
    const metadata = await writer.finish({ warnings: ['column "x": unknown type'] })

    const userChecksum = checksumOfRecords([{ id: 'u1', n: 1 }, { id: 'u2', n: null }])
    const expected =
      '{"tables":[\n' +
      '{"tableName":"User","primaryKey":"id","columns":[{"name":"id","type":"text","kind":"text","nullable":false},{"name":"n","type":"integer","kind":"integer","nullable":true}],' +
      '"uniqueConstraints":[],"indexes":[{"name":"user_n_idx","columns":["n"],"unique":false}],"foreignKeys":[],"records":[\n' +
      '{"id":"u1","n":1},\n' +
      '{"id":"u2","n":null}\n' +
      ']},\n' +
      '{"tableName":"Audit Log","primaryKey":null,"columns":[{"name":"a","type":"text","kind":"text","nullable":true}],"uniqueConstraints":[],"indexes":[],"foreignKeys":[],"records":[\n' +
      ']}\n' +
      '],\n' +
      `"metadata":${JSON.stringify(metadata, null, 2)}\n` +
      '}\n'
    expect(text()).toBe(expected)
    expect(metadata).toEqual({
      format: 'mergeback',
      version: '1.0',
      tool: expect.any(String),
      exportedAt: '2026-11-22T10:30:00.000Z',
      engine: 'postgres',
      database: 'app',
      backupName: 'daily',
      tables: ['User', 'Audit Log'],
      recordCounts: { User: 2, 'Audit Log': 0 },
      compression: 'none',
      encryption: 'none',
      checksums: { User: userChecksum, 'Audit Log': checksumOfRecords([]) },
      includesIndexes: true,
      warnings: ['column "x": unknown type'],
    })
    expect(Object.keys(metadata)[0]).toBe('format')
  })

  it('writes an empty backup as valid JSON', async () => {
    const { out, text } = memoryOut()
    const metadata = await new BackupWriter(out, OPTIONS).finish()
    expect(JSON.parse(text())).toEqual({ tables: [], metadata })
  })

  it('returns the metadata exactly as a reader reports it', async () => {
    const bytes = await writeBackup([{ schema: USER, rows: [{ id: 'a', n: 1 }] }], { ...OPTIONS, schema: 'sales', description: 'before the upgrade', encryption: 'aes-256-gcm', compression: 'gzip' })
    const parsed = JSON.parse(bytes.toString('utf8')) as { metadata: unknown }
    const events = await readEvents(bytes)
    expect(events.at(-1)).toEqual({ type: 'metadata', metadata: parsed.metadata, layout: 'mergeback' })
    expect(parsed.metadata).toMatchObject({ schema: 'sales', description: 'before the upgrade', encryption: 'aes-256-gcm', compression: 'gzip' })
  })

  it('leaves the indexes out with includesIndexes: false, and says so', async () => {
    const bytes = await writeBackup([{ schema: USER, rows: [] }], { ...OPTIONS, includesIndexes: false })
    const parsed = JSON.parse(bytes.toString('utf8')) as { tables: { indexes: unknown[] }[]; metadata: { includesIndexes: boolean } }
    expect(parsed.tables[0]!.indexes).toEqual([])
    expect(parsed.metadata.includesIndexes).toBe(false)
  })

  it('writes every ColumnSchema field that is set, in a fixed order', () => {
    const header = encodeTableHeader({
      ...USER,
      primaryKey: ['id', 'n'],
      columns: [
        { enumName: 'mood', enumValues: ['a', 'b'], nullable: true, kind: 'enum', type: 'mood', name: 'm' },
        { name: 'g', type: 'integer', kind: 'integer', nullable: false, default: null, identity: 'always', autoIncrement: true, generated: 'a + 1' },
        { name: 't', type: 'text[]', kind: 'array', elementKind: 'text', nullable: true },
      ],
      options: { charset: 'utf8mb4' },
    })
    expect(header.primaryKey).toEqual(['id', 'n'])
    expect(JSON.stringify(header.columns)).toBe(
      '[{"name":"m","type":"mood","kind":"enum","nullable":true,"enumValues":["a","b"],"enumName":"mood"},' +
        '{"name":"g","type":"integer","kind":"integer","nullable":false,"default":null,"identity":"always","autoIncrement":true,"generated":"a + 1"},' +
        '{"name":"t","type":"text[]","kind":"array","elementKind":"text","nullable":true}]',
    )
    expect(header.options).toEqual({ charset: 'utf8mb4' })
  })

  it.each<[string, unknown]>([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-0', -0],
    ['undefined', undefined],
    ['a bigint', 10n],
    ['a Date', new Date(0)],
    ['a Buffer', Buffer.from('x')],
    ['NaN inside an array', [1, Number.NaN]],
    ['undefined inside a document', { deep: { value: undefined } }],
  ])('refuses a row holding %s instead of changing it silently', async (_name, value) => {
    const { out, text } = memoryOut()
    const writer = new BackupWriter(out, OPTIONS)
    await writer.beginTable(USER)
    await writer.writeRows([{ id: 'ok', n: 1 }])
    const error = await writer.writeRows([{ id: 'bad', n: value as Row[string] }]).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(InternalError)
    expect((error as Error).message).toMatch(/^table "User", row 1: "n": .* cannot be written exactly/)
    expect(text()).not.toContain('"bad"')
  })

  it('refuses rows that are not objects', async () => {
    const writer = new BackupWriter(memoryOut().out, OPTIONS)
    await writer.beginTable(USER)
    await expect(writer.writeRows([[1, 2] as unknown as Row])).rejects.toThrow(InternalError)
  })

  it('refuses calls out of order (a bug in the caller)', async () => {
    const writer = new BackupWriter(memoryOut().out, OPTIONS)
    await expect(writer.writeRows([])).rejects.toThrow(/writeRows while no table is open/)
    await expect(writer.endTable()).rejects.toThrow(InternalError)
    await writer.beginTable(USER)
    await expect(writer.beginTable(table('Other'))).rejects.toThrow(/table "User" is open/)
    await expect(writer.finish()).rejects.toThrow(InternalError)
    await writer.endTable()
    await expect(writer.beginTable(USER)).rejects.toThrow(/already written/)
    await writer.finish()
    await expect(writer.beginTable(table('Late'))).rejects.toThrow(/already finished/)
    await expect(writer.finish()).rejects.toThrow(/already finished/)
  })

  it.each<[string, Partial<TableSchema>, RegExp]>([
    ['no name', { name: '' }, /needs a name/],
    ['two columns with one name', { columns: [USER.columns[0]!, USER.columns[0]!] }, /two columns are named "id"/],
    ['a key column that does not exist', { primaryKey: ['id', 'nope'] }, /primary key names "nope"/],
    ['a key column twice', { primaryKey: ['id', 'id'] }, /names a column twice/],
  ])('refuses a table with %s (a reader would refuse the file)', async (_name, change, message) => {
    const writer = new BackupWriter(memoryOut().out, OPTIONS)
    await expect(writer.beginTable({ ...USER, ...change })).rejects.toThrow(message)
  })

  it('checks the tables against the declared list when one is given', async () => {
    const writer = new BackupWriter(memoryOut().out, { ...OPTIONS, tables: [table('a'), table('b')] })
    await expect(writer.beginTable(table('b'))).rejects.toThrow(/next declared table is "a"/)
    await writer.beginTable(table('a'))
    await writer.endTable()
    await expect(writer.finish()).rejects.toThrow(/declared table "b" was not written/)
  })

  it('refuses options that cannot make a valid file', () => {
    const out = memoryOut().out
    expect(() => new BackupWriter(out, { ...OPTIONS, backupName: '' })).toThrow(UsageError)
    expect(() => new BackupWriter(out, { ...OPTIONS, layout: 'mongo-native' })).toThrow(/for MongoDB backups/)
    expect(() => new BackupWriter(out, { ...OPTIONS, engine: 'mongodb', layout: 'mongo-native' })).toThrow(/needs the list of tables/)
    expect(() => new BackupWriter(out, { ...OPTIONS, tables: [table('a'), table('a')] })).toThrow(/listed twice/)
  })
})

describe('BackupWriter and its output stream', () => {
  it('waits for drain instead of buffering ahead of a slow destination', async () => {
    const held: (() => void)[] = []
    let received = 0
    const out = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length
        held.push(callback)
      },
    })
    const writer = new BackupWriter(out, OPTIONS)
    await writer.beginTable(USER)
    const rows = Array.from({ length: 5000 }, (_, i) => ({ id: `user-${i}-${'x'.repeat(40)}`, n: i }))
    let settled = false
    const writing = writer.writeRows(rows).then(() => {
      settled = true
    })
    await new Promise((resolve) => setTimeout(resolve, 20))
    // One 64 KiB piece was handed over and not acknowledged: the writer stops there.
    expect(settled).toBe(false)
    expect(received).toBeLessThan(70 * 1024)
    while (!settled) {
      held.splice(0).forEach((callback) => callback())
      await new Promise((resolve) => setImmediate(resolve))
    }
    await writing
    expect(received).toBeGreaterThan(5000 * 50)
  })

  it('rejects with the stream error, on that call and every later one', async () => {
    const out = new Writable({
      write(_chunk, _encoding, callback) {
        callback(new Error('ENOSPC: no space left on device'))
      },
    })
    out.on('error', () => {})
    const writer = new BackupWriter(out, OPTIONS)
    await writer.beginTable(USER)
    await writer.writeRows(Array.from({ length: 3000 }, (_, i) => ({ id: `u${i}`.padEnd(40, '.'), n: i }))).catch(() => {})
    await new Promise((resolve) => setImmediate(resolve))
    await expect(writer.endTable()).rejects.toThrow(/ENOSPC/)
    await expect(writer.finish()).rejects.toThrow(/ENOSPC/)
  })

  it('rejects instead of hanging when the output was destroyed', async () => {
    const out = new PassThrough({ highWaterMark: 16 })
    const writer = new BackupWriter(out, OPTIONS)
    await writer.beginTable(USER)
    out.destroy()
    await expect(writer.writeRows(Array.from({ length: 3000 }, (_, i) => ({ id: `u${i}`.padEnd(40, '.'), n: i })))).rejects.toMatchObject({
      code: 'ERR_STREAM_PREMATURE_CLOSE',
    })
  })

  it('does not end the output stream', async () => {
    const out = new PassThrough()
    out.resume()
    await new BackupWriter(out, OPTIONS).finish()
    expect(out.writableEnded).toBe(false)
  })
})

describe('BackupWriter, mongo-native layout', () => {
  const users: TableSchema = { ...table('users', ['_id']), columns: [{ name: '_id', type: 'objectId', kind: 'document', nullable: false }] }
  const docs: Row[] = [{ _id: { $oid: '652f1b2c9d3e4f5a6b7c8d9e' }, name: 'Ada' }]

  it('writes metadata first, collections of documents, then a summary', async () => {
    const bytes = await writeBackup([{ schema: users, rows: docs }], { ...OPTIONS, engine: 'mongodb', layout: 'mongo-native', tables: [users] })
    const text = bytes.toString('utf8')
    expect(text.startsWith('{"metadata":{\n')).toBe(true)
    expect(text).toContain('\n"collections":{\n"users":[\n{"_id":{"$oid":"652f1b2c9d3e4f5a6b7c8d9e"},"name":"Ada"}\n]\n},\n"summary":')
    const parsed = JSON.parse(text) as Record<string, Record<string, unknown>>
    expect(parsed.summary).toEqual({ recordCounts: { users: 1 }, checksums: { users: checksumOfRecords(docs) }, warnings: [] })
    expect(parsed.metadata!.collectionSchemas).toEqual([encodeTableHeader(users)])
  })

  it('writes an empty MongoDB backup as valid JSON', async () => {
    const bytes = await writeBackup([], { ...OPTIONS, engine: 'mongodb', layout: 'mongo-native', tables: [] })
    expect(JSON.parse(bytes.toString('utf8'))).toMatchObject({ metadata: { collections: [] }, collections: {}, summary: { recordCounts: {} } })
  })
})

describe('defaultBackupFileName', () => {
  const now = new Date('2026-11-22T10:30:05.123Z')
  it('is <name>-YYYY-MM-DDTHH-mm-ss.json with .gz and .enc as needed, in UTC', () => {
    expect(defaultBackupFileName('daily', { now })).toBe('daily-2026-11-22T10-30-05.json')
    expect(defaultBackupFileName('incremental-backup', { now, compression: 'gzip' })).toBe('incremental-backup-2026-11-22T10-30-05.json.gz')
    expect(defaultBackupFileName('daily', { now, compression: 'gzip', encryption: 'aes-256-gcm' })).toBe('daily-2026-11-22T10-30-05.json.gz.enc')
    expect(defaultBackupFileName('daily', { now, encryption: 'aes-256-gcm' })).toBe('daily-2026-11-22T10-30-05.json.enc')
  })
  it.each(['', '.', '..', 'a/b', 'a\\b'])('refuses %j as a name', (name) => {
    expect(() => defaultBackupFileName(name, { now })).toThrow(UsageError)
  })
})

describe('BackupWriter.writeRecordLines with scratch memory', () => {
  const rows: Row[] = Array.from({ length: 40 }, (_, i) => ({ id: `u${i}`, n: i % 3 === 0 ? null : i * 7, s: 'é\u0002\n'.repeat(i % 4) }))

  async function written(write: (writer: BackupWriter) => Promise<void>): Promise<{ text: string; chunks: Buffer[]; checksum: string | undefined }> {
    const { out, text, chunks } = memoryOut()
    const writer = new BackupWriter(out, OPTIONS)
    await writer.beginTable(USER)
    await write(writer)
    await writer.endTable()
    const metadata = await writer.finish()
    return { text: text(), chunks, checksum: metadata.checksums?.User }
  }

  it('lays the output out in the room before the lines (as stripStamps leaves them), with the bytes and checksum of writeRows', async () => {
    const expected = await written(async (writer) => writer.writeRows(rows))
    const scratches: Buffer[] = []
    const actual = await written(async (writer) => {
      // Three chunks: the table's first record gets "\n" alone, the others ",\n".
      for (const part of [rows.slice(0, 1), rows.slice(1, 25), rows.slice(25)]) {
        const chunk = Buffer.from(part.map((row, i) => `${JSON.stringify(row)}\x02${i * 1000}\n`).join(''))
        scratches.push(chunk)
        expect(await writer.writeRecordLines(stripStamps(chunk), chunk)).toBe(part.length)
      }
    })
    expect(actual.text).toBe(expected.text)
    expect(actual.checksum).toBe(expected.checksum)
    // No new Buffer: each chunk's records went out of the chunk's own memory.
    for (const scratch of scratches) expect(actual.chunks.some((c) => c.buffer === scratch.buffer && c.byteOffset === scratch.byteOffset)).toBe(true)
  })

  it('makes a new Buffer when the scratch memory does not hold the lines at its end or has too little room', async () => {
    const expected = await written(async (writer) => writer.writeRows(rows))
    const lines = (part: Row[]): string => part.map((row) => `${JSON.stringify(row)}\n`).join('')
    const tight = Buffer.from(` ${lines(rows.slice(0, 20))}`) // one byte of room for 20 records
    const apart = Buffer.alloc(1 << 16)
    const actual = await written(async (writer) => {
      await writer.writeRecordLines(tight.subarray(1), tight)
      await writer.writeRecordLines(Buffer.from(lines(rows.slice(20))), apart)
    })
    expect(actual.text).toBe(expected.text)
    expect(actual.checksum).toBe(expected.checksum)
    expect(tight.toString()).toBe(` ${lines(rows.slice(0, 20))}`)
  })
})
