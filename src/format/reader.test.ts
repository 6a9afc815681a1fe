import { PassThrough } from 'node:stream'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Row, TableSchema } from '../adapters/adapter.js'
import { FormatError, IntegrityError, UsageError } from '../errors.js'
import { NATIVE_SMALL_OPTIONS, NATIVE_SMALL_TABLES, readEvents, rowsOf, writeBackup } from '../../test/fixtures/format-v1/fixtures.js'
import { parseRecordBytes, readBackup, type LineConverter } from './reader.js'
import { markingConverter } from '../../test/helpers/record-lines.js'
import type { BackupEvent } from './types.js'

const USER: TableSchema = {
  name: 'User',
  columns: [
    { name: 'id', type: 'text', kind: 'text', nullable: false },
    { name: 'n', type: 'integer', kind: 'integer', nullable: true },
  ],
  primaryKey: ['id'],
  uniqueConstraints: [],
  indexes: [],
  foreignKeys: [],
}
const USER_ROWS: Row[] = [
  { id: 'u1', n: 1 },
  { id: 'u2', n: 2 },
  { id: 'u3', n: 3 },
]
const AUDIT: TableSchema = { ...USER, name: 'Audit Log', primaryKey: [] }

/** A small backup as the writer writes it, as text, to be damaged by the tests. */
async function baseText(): Promise<string> {
  return (await writeBackup([{ schema: USER, rows: USER_ROWS }, { schema: AUDIT, rows: [{ id: 'a', n: null }] }])).toString('utf8')
}

/** Reads until the reader throws; returns the error and the events before it. */
async function readFailure(input: Buffer | string | readonly Buffer[], options?: Parameters<typeof readBackup>[1]) {
  const events: BackupEvent[] = []
  const chunks = typeof input === 'string' ? [Buffer.from(input, 'utf8')] : Buffer.isBuffer(input) ? [input] : input
  try {
    for await (const event of readBackup(chunks, options)) events.push(event)
  } catch (error) {
    return { error: error as Error & { byteOffset?: number; table?: string; recordIndex?: number; reason?: string }, events }
  }
  throw new Error('expected the reader to fail')
}

/** Byte offset of the first occurrence of `needle` in `text` (after `from`). */
function byteIndex(text: string, needle: string, from = 0): number {
  const index = text.indexOf(needle, from)
  if (index < 0) throw new Error(`${needle} not in text`)
  return Buffer.byteLength(text.slice(0, index))
}

function replaceOnce(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`${from} not in text`)
  return text.replace(from, to)
}

describe('readBackup round trip', () => {
  it('gives back every kind of value, schema and table exactly as written', async () => {
    const events = await readEvents(await writeBackup(NATIVE_SMALL_TABLES, NATIVE_SMALL_OPTIONS))
    for (const { schema, rows } of NATIVE_SMALL_TABLES) {
      expect(events).toContainEqual({ type: 'table', table: schema, layout: 'mergeback' })
      expect(rowsOf(events, schema.name)).toEqual(rows)
    }
  })

  it('reads a pretty-printed or CRLF copy (the general parser) into the same events, checksums included', async () => {
    const bytes = await writeBackup(NATIVE_SMALL_TABLES, NATIVE_SMALL_OPTIONS)
    const expected = await readEvents(bytes)
    const pretty = JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2)
    expect(await readEvents(Buffer.from(pretty))).toEqual(expected)
    expect(await readEvents(Buffer.from(JSON.stringify(JSON.parse(bytes.toString('utf8')))))).toEqual(expected)
    expect(await readEvents(Buffer.from(bytes.toString('utf8').replace(/\n/g, '\r\n')))).toEqual(expected)
    expect(await readEvents(Buffer.from(pretty.replace(/\n/g, '\r\n')))).toEqual(expected)
  })

  it('gives back arbitrary strings and JSON values on both paths, at any split (property)', async () => {
    const table: TableSchema = {
      ...USER,
      columns: [...USER.columns, { name: 'text', type: 'text', kind: 'text', nullable: true }, { name: 'doc', type: 'jsonb', kind: 'array', nullable: true }],
    }
    const row = fc.record({
      id: fc.string({ unit: 'binary', maxLength: 20 }),
      n: fc.oneof(fc.integer(), fc.constant(null)),
      // 'binary' units include lone surrogates, control characters and astral code points.
      text: fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.constant(null)),
      doc: fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 4 }).map((value) => JSON.parse(JSON.stringify(value)) as Row[string]),
    })
    await fc.assert(
      // Keys are unique: the same key twice is a damaged file (issue #13).
      fc.asyncProperty(fc.uniqueArray(row, { maxLength: 6, selector: (r) => r.id }), fc.nat(), async (rows, splitSeed) => {
        const bytes = await writeBackup([{ schema: table, rows }])
        const events = await readEvents(bytes)
        expect(rowsOf(events, 'User')).toEqual(rows)
        expect(events.at(-1)?.type).toBe('metadata')
        const at = splitSeed % bytes.length
        expect(await readEvents([bytes.subarray(0, at), bytes.subarray(at)])).toEqual(events)
        expect(await readEvents(Buffer.from(JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2)))).toEqual(events)
      }),
      { numRuns: 150 },
    )
  })

  it('reads a record with a "__proto__" field as JSON.parse does, on both paths', async () => {
    const table: TableSchema = { ...USER, columns: [...USER.columns, { name: '__proto__', type: 'text', kind: 'text', nullable: true }] }
    const rows: Row[] = [JSON.parse('{"id":"p","n":1,"__proto__":"x"}') as Row]
    const bytes = await writeBackup([{ schema: table, rows }])
    for (const text of [bytes.toString('utf8'), JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 1)]) {
      const [row] = rowsOf(await readEvents(Buffer.from(text)), 'User')
      expect(Object.getPrototypeOf(row)).toBe(Object.prototype)
      expect(Object.keys(row!)).toEqual(['id', 'n', '__proto__'])
      expect(row!['__proto__']).toBe('x')
    }
  })

  it('accepts a UTF-8 byte order mark, string chunks and a Node Readable', async () => {
    const bytes = await writeBackup([{ schema: USER, rows: USER_ROWS }])
    const expected = await readEvents(bytes)
    expect(await readEvents(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]))).toEqual(expected)
    const text = bytes.toString('utf8')
    expect(await readEvents([text.slice(0, 100), text.slice(100)])).toEqual(expected)
    const stream = new PassThrough()
    stream.end(bytes)
    const fromStream: BackupEvent[] = []
    for await (const event of readBackup(stream)) fromStream.push(event)
    expect(fromStream).toEqual(expected)
  })

  it('ignores top-level keys and table fields it does not know (a later 1.x may add some)', async () => {
    const text = await baseText()
    const extended = replaceOnce(replaceOnce(text, '"foreignKeys":[],', '"foreignKeys":[],"comment":{"a":[1,{"b":2}]},'), '\n],\n"metadata"', '\n],\n"extra":[{"x":[]}],\n"metadata"')
    expect(await readEvents(Buffer.from(extended))).toEqual(await readEvents(Buffer.from(text)))
  })

  it('batches rows as asked, numbering them across batches', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => ({ id: `u${i}`, n: i }))
    const events = await readEvents(await writeBackup([{ schema: USER, rows }]), { batchSize: 10 })
    const batches = events.flatMap((event) => (event.type === 'rows' ? [[event.firstRecordIndex, event.rows.length]] : []))
    expect(batches).toEqual([
      [0, 10],
      [10, 10],
      [20, 5],
    ])
  })

  it.each([0, -1, 1.5, Number.NaN])('refuses batchSize %s', async (batchSize) => {
    await expect(readEvents(Buffer.from('{}'), { batchSize })).rejects.toThrow(UsageError)
  })

  it('stops reading when the consumer leaves early', async () => {
    const stream = new PassThrough()
    stream.write(await writeBackup([{ schema: USER, rows: USER_ROWS }]))
    for await (const event of readBackup(stream)) if (event.type === 'table') break
    expect(stream.destroyed).toBe(true)
  })
})

describe('readBackup streams in bounded memory', () => {
  const ROWS = 100_000

  async function expectNoReadAhead(bytes: Buffer, chunkSize: number): Promise<void> {
    let consumed = 0
    function* chunks(): Generator<Buffer> {
      for (let at = 0; at < bytes.length; at += chunkSize) {
        consumed += Math.min(chunkSize, bytes.length - at)
        yield bytes.subarray(at, at + chunkSize)
      }
    }
    const bytesPerRow = bytes.length / ROWS
    let rows = 0
    let firstBatchAt = -1
    for await (const event of readBackup(chunks(), { batchSize: 1000 })) {
      if (event.type !== 'rows') continue
      expect(event.rows.length).toBeLessThanOrEqual(1000)
      if (firstBatchAt < 0) firstBatchAt = consumed
      rows += event.rows.length
      // What was read is what these rows needed, plus at most a batch and a chunk: no read-ahead.
      expect(consumed).toBeLessThan((rows + 1000) * bytesPerRow + 2 * chunkSize + 4096)
    }
    expect(rows).toBe(ROWS)
    expect(firstBatchAt).toBeLessThan(bytes.length / 20)
  }

  it('hands out batches of a 100k-row table while reading it (fast path)', async () => {
    const rows = Array.from({ length: ROWS }, (_, i) => ({ id: `user-${i}`, n: i }))
    const bytes = await writeBackup([{ schema: USER, rows }])
    await expectNoReadAhead(bytes, 16 * 1024)
    const events = await readEvents(bytes)
    expect(rowsOf(events, 'User').at(-1)).toEqual({ id: `user-${ROWS - 1}`, n: ROWS - 1 })
  })

  it('hands out batches of a 100k-row table while reading it (general parser, pretty-printed)', async () => {
    const rows = Array.from({ length: ROWS }, (_, i) => ({ id: `user-${i}`, n: i }))
    const bytes = await writeBackup([{ schema: USER, rows }])
    await expectNoReadAhead(Buffer.from(JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2)), 16 * 1024)
  })

  it('reads lines longer than its line limit in pieces, cut between characters', async () => {
    const table: TableSchema = { ...USER, columns: [...USER.columns, { name: 'big', type: 'text', kind: 'text', nullable: true }] }
    for (const pad of ['', 'x']) {
      // 4-byte characters, so that a cut at a fixed byte offset would fall inside one.
      const rows: Row[] = [
        { id: 'small', n: 1, big: 'é' },
        { id: 'huge', n: 2, big: pad + '👍'.repeat(2_400_000) },
        { id: 'after', n: 3, big: null },
      ]
      const bytes = await writeBackup([{ schema: table, rows }])
      const events = await readEvents(bytes)
      expect(rowsOf(events, 'User')).toEqual(rows)
      // The same document on one line: every piece goes through the general parser.
      const oneLine = Buffer.from(JSON.stringify(JSON.parse(bytes.toString('utf8'))))
      const chunks = Array.from({ length: Math.ceil(oneLine.length / 1_000_003) }, (_, i) => oneLine.subarray(i * 1_000_003, (i + 1) * 1_000_003))
      expect(await readEvents(chunks)).toEqual(events)
    }
  })
})

describe('a record line longer than the line limit (a huge value, issue #13 finding 6)', () => {
  const table: TableSchema = {
    ...USER,
    columns: [...USER.columns, { name: 'big', type: 'text', kind: 'text', nullable: true }, { name: 'doc', type: 'jsonb', kind: 'json', nullable: true }],
  }
  const chunked = (bytes: Buffer, size: number): Buffer[] => Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size))

  it('is read whole on the fast path, at any chunking: plain text, text with escapes, nested values', async () => {
    const rows: Row[] = [
      { id: 'before', n: 1, big: 'é', doc: null },
      { id: 'plain', n: 2, big: 'x'.repeat(9 * 1024 * 1024) + '👍', doc: { a: [1, 'two', null] } },
      { id: 'escaped', n: 3, big: 'line\n"quoted"\t\\'.repeat(560_000), doc: { deep: { s: 'y'.repeat(100) } } },
      { id: 'after', n: 4, big: null, doc: null },
    ]
    const bytes = await writeBackup([{ schema: table, rows }])
    const events = await readEvents(bytes)
    expect(rowsOf(events, 'User')).toEqual(rows)
    expect(events.at(-1)?.type).toBe('metadata')
    for (const size of [65_536, 5_000_011]) expect(await readEvents(chunked(bytes, size))).toEqual(events)
    // 'lines' hands on the same bytes; 'none' verifies them.
    const lines = (await readEvents(bytes, { records: 'lines' })).flatMap((e) => (e.type === 'lines' ? [e.lines.toString('utf8')] : [])).join('')
    expect(lines).toBe(rows.map((r) => JSON.stringify(r) + '\n').join(''))
    expect((await readEvents(bytes, { records: 'none' })).at(-1)?.type).toBe('metadata')
  }, 120_000)

  it("'lines': a huge record line is an event of its own, not copied into a batch; the caller's chunks stay untouched", async () => {
    const rows: Row[] = [{ id: 'a', n: 1, big: 'x', doc: null }, { id: 'b', n: 2, big: 'y'.repeat(9 * 1024 * 1024), doc: null }, { id: 'c', n: 3, big: null, doc: null }]
    const bytes = await writeBackup([{ schema: table, rows }])
    const original = Buffer.from(bytes)
    for (const input of [chunked(bytes, 65_536), [bytes]]) {
      const events = (await readEvents(input, { records: 'lines' })).flatMap((e) => (e.type === 'lines' ? [e] : []))
      expect(events.map((e) => e.lines.toString('utf8')).join('')).toBe(rows.map((r) => JSON.stringify(r) + '\n').join(''))
      expect(events.reduce((n, e) => n + e.count, 0)).toBe(3)
      if (input.length > 1) expect(events.map((e) => [e.count, e.firstRecordIndex])).toEqual([[1, 0], [1, 1], [1, 2]])
    }
    expect(bytes.equals(original)).toBe(true)
  })

  it('several records on one long line still read (the general parser, in pieces)', async () => {
    const rows: Row[] = Array.from({ length: 3 }, (_, i) => ({ id: `r${i}`, n: i, big: 'z'.repeat(4 * 1024 * 1024), doc: null }))
    const text = (await writeBackup([{ schema: table, rows }])).toString('utf8').replace(/\},\n\{"id":"r/g, '},{"id":"r')
    expect(text.split('\n').some((line) => line.length > 8 * 1024 * 1024 && line.startsWith('{"id":"r0"'))).toBe(true)
    const events = await readEvents(Buffer.from(text))
    expect(rowsOf(events, 'User')).toEqual(rows)
  })

  it('a syntax error in it: FormatError naming table and record; a changed byte: IntegrityError', async () => {
    const rows: Row[] = [{ id: 'a', n: 1, big: 'q'.repeat(9 * 1024 * 1024), doc: null }]
    const text = (await writeBackup([{ schema: table, rows }])).toString('utf8')
    const broken = await readFailure(text.replace('"doc":null}', '"doc":nul}'))
    expect(broken.error).toBeInstanceOf(FormatError)
    expect(broken.error.message).toMatch(/not valid JSON/)
    expect(broken.error.table).toBe('User')
    const changed = await readFailure(text.replace('qqqq', 'qqqr'))
    expect(changed.error).toBeInstanceOf(IntegrityError)
    // A raw control character inside the long string is not JSON either.
    const control = await readFailure(text.replace('qqqq', 'qq\u0001q'))
    expect(control.error).toBeInstanceOf(FormatError)
  })

  it('beyond maxRecordBytes: the limit error, not a whole-file buffer', async () => {
    const rows: Row[] = [{ id: 'a', n: 1, big: 'q'.repeat(9 * 1024 * 1024), doc: null }]
    const bytes = await writeBackup([{ schema: table, rows }])
    const { error } = await readFailure(chunked(bytes, 65_536), { limits: { maxRecordBytes: 4 * 1024 * 1024 } })
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(/maxRecordBytes/)
  })
})

describe('maxRecordBytes at the exact boundary (issue #13: a record ending in the last piece escaped it)', () => {
  const table: TableSchema = { ...USER, columns: [...USER.columns, { name: 'big', type: 'text', kind: 'text', nullable: true }] }
  const overhead = Buffer.byteLength(JSON.stringify({ id: 'b', n: 2, big: '' }))
  // Above the 8 MiB line limit, so that a line that does not take the fast path is read in pieces.
  const limit = 9 * 1024 * 1024 + 17
  const backup = async (recordBytes: number, path: 'fast' | 'pieces'): Promise<Buffer> => {
    const rows: Row[] = [{ id: 'a', n: 1, big: 'x' }, { id: 'b', n: 2, big: 'q'.repeat(recordBytes - overhead) }, { id: 'c', n: 3, big: null }]
    const text = (await writeBackup([{ schema: table, rows }])).toString('utf8')
    // A blank before the comma keeps the line off the fast path (it is no longer `{…},`).
    return Buffer.from(path === 'fast' ? text : replaceOnce(text, '"},\n{"id":"c"', '"} ,\n{"id":"c"'))
  }

  for (const path of ['fast', 'pieces'] as const) {
    it(`${path}: limit − 1 and limit bytes read, limit + 1 is refused naming the record`, async () => {
      for (const size of [limit - 1, limit]) {
        const events = await readEvents(await backup(size, path), { limits: { maxRecordBytes: limit } })
        expect(rowsOf(events, 'User').map((row) => Buffer.byteLength(JSON.stringify(row)))[1]).toBe(size)
      }
      const bytes = await backup(limit + 1, path)
      for (const input of [bytes, [bytes.subarray(0, 5_000_011), bytes.subarray(5_000_011)]]) {
        const { error } = await readFailure(input, { limits: { maxRecordBytes: limit } })
        expect(error).toBeInstanceOf(FormatError)
        expect(error.message).toMatch(new RegExp(`record 1 of table "User" is longer than ${limit} bytes`))
        expect(error.byteOffset).toBe(byteIndex(bytes.toString('utf8'), '{"id":"b"'))
      }
    }, 120_000)
  }

  it('several records on one line: each is measured, none beyond the limit passes', async () => {
    const rows: Row[] = [{ id: 'a', n: 1, big: 'x'.repeat(3000) }, { id: 'b', n: 2, big: 'y'.repeat(6000) }, { id: 'c', n: 3, big: null }]
    const text = (await writeBackup([{ schema: table, rows }])).toString('utf8').replace(/\},\n\{"id"/g, '},{"id"')
    expect((await readEvents(Buffer.from(text), { limits: { maxRecordBytes: 8000 } })).at(-1)?.type).toBe('metadata')
    const { error } = await readFailure(text, { limits: { maxRecordBytes: 5000 } })
    expect(error.message).toMatch(/record 1 of table "User" is longer than 5000 bytes/)
  })
})

describe('parseRecordBytes', () => {
  const parse = (text: string): unknown => {
    const bytes = Buffer.from(text, 'utf8')
    return parseRecordBytes(bytes, 0, bytes.length)
  }

  it('gives what JSON.parse gives for any object text, spaced or not (property)', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ unit: 'binary', maxLength: 8 }), fc.jsonValue({ maxDepth: 3 })), fc.boolean(), (object, spaced) => {
        const text = spaced ? JSON.stringify(object, null, 1).replace(/\n/g, ' ') : JSON.stringify(object)
        expect(parse(text)).toEqual(JSON.parse(text))
      }),
      { numRuns: 300 },
    )
  })

  it('a repeated field: the last one wins, in the first one\'s place; "__proto__" is an own field', () => {
    const text = '{"a":1,"__proto__":{"x":1},"b":2,"a":3}'
    const record = parse(text) as Record<string, unknown>
    expect(Object.keys(record)).toEqual(Object.keys(JSON.parse(text) as object))
    expect(record).toEqual(JSON.parse(text))
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype)
  })

  it('undefined wherever JSON.parse throws or the text is not one object', () => {
    for (const text of ['[]', '1', '"{}"', 'null']) expect(parse(text), text).toBeUndefined()
    for (const text of ['', '{', '{"a"}', '{"a":}', '{"a":1,}', '{"a":1 "b":2}', '{"a":"x\u0001"}', '{"a":"\\q"}', '{"a":tru}', '{"a":1}x', '{"a":1}}', '{a:1}', '{"a":[1,]}', '{"a":"unterminated}']) {
      expect(() => JSON.parse(text)).toThrow()
      expect(parse(text), text).toBeUndefined()
    }
  })
})

describe('readBackup keeps numbers exact', () => {
  const smart = (records: string) => `{"tables":[{"tableName":"T","primaryKey":"id","records":[${records}]}],"metadata":{"version":"1.0"}}`

  it('keeps integers beyond 2^53 exactly in tables without column types: a field as its decimal text, a nested one inside its field\'s exact JSON text', async () => {
    const events = await readEvents(Buffer.from(smart('{"id":12345678901234567890,"neg":-9007199254740993,"max":9007199254740991,"f":1.5e300,"e":1e400,"small":42,"nested":{"x":[18446744073709551615]}}')))
    expect(rowsOf(events, 'T')).toEqual([{ id: '12345678901234567890', neg: '-9007199254740993', max: 9007199254740991, f: 1.5e300, e: Number.POSITIVE_INFINITY, small: 42, nested: '{"x":[18446744073709551615]}' }])
  })

  it('keeps them in seed 002 documents too', async () => {
    const text = '{"metadata":{"version":"1.0"},"collections":{"c":[{"_id":"a","count":9223372036854775807}]}}'
    expect(rowsOf(await readEvents(Buffer.from(text)), 'c')).toEqual([{ _id: 'a', count: '9223372036854775807' }])
  })

  it('reads numbers as doubles, as JSON.parse does, where columns have types', async () => {
    const text = (await writeBackup([{ schema: USER, rows: [{ id: 'a', n: 1 }] }])).toString('utf8').replace('"n":1}', '"n":12345678901234567890}')
    const { events } = await readFailure(text)
    expect(rowsOf(events, 'User')).toEqual([{ id: 'a', n: 12345678901234567890 }])
  })
})

describe('readBackup, Smart Backup and native MongoDB layouts', () => {
  it('names a Smart Backup table’s columns after its first record, then key columns it lacks', async () => {
    const text = '{"tables":[{"tableName":"T","primaryKey":["a","b"],"records":[{"a":1,"c":2},{"a":2,"b":3,"d":4}]}],"metadata":{"exportedAt":"x","version":"1.0","recordCounts":{"T":2}}}'
    const events = await readEvents(Buffer.from(text))
    expect(events[0]).toMatchObject({ type: 'table', layout: 'smart-backup', table: { primaryKey: ['a', 'b'] } })
    expect(events[0]!.type === 'table' && events[0]!.table.columns.map((column) => [column.name, column.nullable])).toEqual([
      ['a', false],
      ['c', true],
      ['b', false],
    ])
    expect(rowsOf(events, 'T')).toEqual([
      { a: 1, c: 2 },
      { a: 2, b: 3, d: 4 },
    ])
    expect(events.at(-1)).toMatchObject({ type: 'metadata', layout: 'smart-backup' })
  })

  it('gives at tableEnd the schema of every field of every record, in first-seen order (issue #14)', async () => {
    const text = '{"tables":[{"tableName":"T","primaryKey":["a","b"],"records":[{"a":1,"c":2},{"a":2,"b":3,"d":4}]}],"metadata":{"exportedAt":"x","version":"1.0","recordCounts":{"T":2}}}'
    const end = (await readEvents(Buffer.from(text))).find((event) => event.type === 'tableEnd')
    expect(end?.type === 'tableEnd' && end.schema?.columns.map((column) => [column.name, column.nullable])).toEqual([
      ['a', false],
      ['c', true],
      ['b', false],
      ['d', true],
    ])
  })

  it('reads a Smart Backup table without a key, or with primaryKey null', async () => {
    const text = '{"tables":[{"tableName":"A","records":[{"x":1}]},{"tableName":"B","primaryKey":null,"records":[]}],"metadata":{}}'
    const tables = (await readEvents(Buffer.from(text))).flatMap((event) => (event.type === 'table' ? [event.table] : []))
    expect(tables.map((table) => [table.name, table.primaryKey, table.columns.length])).toEqual([
      ['A', [], 1],
      ['B', [], 0],
    ])
  })

  it('checks the counts of a Smart Backup file', async () => {
    const text = '{"tables":[{"tableName":"T","primaryKey":"id","records":[{"id":1}]}],"metadata":{"version":"1.0","recordCounts":{"T":2}}}'
    const { error } = await readFailure(text)
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(/table "T" holds 1 records but the metadata counts 2/)
  })

  it('refuses a backup that claims the mergeback format but has a table without columns', async () => {
    const text = '{"tables":[{"tableName":"T","primaryKey":"id","records":[]}],"metadata":{"format":"mergeback","version":"1.0","tables":["T"],"recordCounts":{"T":0},"checksums":{"T":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}}'
    const { error } = await readFailure(text)
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(/table "T" has no "columns"/)
  })

  it('refuses an unsupported version in a mongo-native head before reading any document', async () => {
    const text = '{"metadata":{"format":"mergeback","version":"2.0"},\n"collections":{"c":[\n{"_id":1}\n]}}'
    const { error, events } = await readFailure(text)
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(/version "2.0" is not supported/)
    expect(error.byteOffset).toBe(0)
    expect(events).toEqual([])
  })

  it('refuses documents that are not objects, and collections that are not arrays', async () => {
    const text = '{"metadata":{},"collections":{"c":[{"_id":1},\n7]}}'
    const notObject = await readFailure(text)
    expect(notObject.error).toMatchObject({ table: 'c', recordIndex: 1, byteOffset: byteIndex(text, '7]') })
    expect(notObject.error.message).toMatch(/record 1 of table "c" is not an object/)
    const notArray = await readFailure('{"metadata":{},"collections":{"c":{}}}')
    expect(notArray.error.message).toMatch(/records of table "c" are not an array/)
    const notCollections = await readFailure('{"metadata":{},"collections":[]}')
    expect(notCollections.error.message).toMatch(/"collections" is not an object/)
    const noName = await readFailure('{"metadata":{},"collections":{"":[]}}')
    expect(noName.error.message).toMatch(/a collection has an empty name/)
    const twice = await readFailure('{"metadata":{},"collections":{"c":[],"c":[]}}')
    expect(twice.error.message).toMatch(/table "c" appears twice/)
  })

  it('verifies the checksums of a mongo-native backup from its summary', async () => {
    const text = '{"metadata":{"format":"mergeback","version":"1.0","tables":["c"]},"collections":{"c":[{"_id":1}]},"summary":{"recordCounts":{"c":1},"checksums":{"c":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}}}'
    const { error } = await readFailure(text)
    expect(error).toBeInstanceOf(IntegrityError)
    expect(error).toMatchObject({ reason: 'checksum' })
  })
})

describe('readBackup refuses what is not a valid backup', () => {
  it.each<[string, string | Buffer]>([
    ['an empty file', ''],
    ['only whitespace', ' \n\t\r\n'],
    ['only a byte order mark', Buffer.from([0xef, 0xbb, 0xbf])],
  ])('%s: FormatError at byte 0', async (_name, input) => {
    const { error } = await readFailure(input)
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(/empty/)
    expect(error.byteOffset).toBe(0)
  })

  it('no input at all: FormatError', async () => {
    const { error } = await readFailure([])
    expect(error.message).toMatch(/empty/)
  })

  it.each(['[1,2]', '42', '"tables"', 'null', '{"foo":1,"tables":[]}', '{"metadata":{"version":"1.0"}}', '{}'])('%s: "is not a mergeback backup"', async (input) => {
    const { error } = await readFailure(input)
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(/is not a mergeback backup/)
  })

  it('text that is not JSON: FormatError at the first bad byte', async () => {
    const { error } = await readFailure('hello')
    expect(error).toMatchObject({ byteOffset: 0 })
    expect(error.message).toMatch(/^the backup is not valid JSON at byte 0/)
  })

  it('malformed JSON in a table header: the exact byte', async () => {
    const text = replaceOnce(await baseText(), '"primaryKey":"id",', '"primaryKey":"id",,')
    const { error } = await readFailure(text)
    expect(error).toBeInstanceOf(FormatError)
    expect(error.byteOffset).toBe(byteIndex(text, ',,') + 1)
    expect(error.table).toBeUndefined()
  })

  it('malformed JSON in a record line: the exact byte, the table and the record', async () => {
    const text = replaceOnce(await baseText(), '{"id":"u2","n":2}', '{"id":"u2","n":2x}')
    const { error, events } = await readFailure(text)
    expect(error).toBeInstanceOf(FormatError)
    expect(error).toMatchObject({ byteOffset: byteIndex(text, '2x}') + 1, table: 'User', recordIndex: 1 })
    expect(error.message).toMatch(/not valid JSON at byte \d+: .*\(table "User", record 1\)$/)
    expect(events.map((event) => event.type)).toEqual(['table'])
  })

  it('a missing comma between two record lines: the start of the second line', async () => {
    const text = replaceOnce(await baseText(), '{"id":"u1","n":1},', '{"id":"u1","n":1}')
    const { error } = await readFailure(text)
    expect(error).toMatchObject({ byteOffset: byteIndex(text, '{"id":"u2"'), table: 'User', recordIndex: 1 })
  })

  it('a comma after the last of several record lines: refused where the records end', async () => {
    // From the second record on, the stand-ins after a comma skip the tokenizer (round nine): its
    // state must still be the one that refuses the `]` after a comma.
    const text = replaceOnce(await baseText(), '{"id":"u3","n":3}\n', '{"id":"u3","n":3},\n')
    const { error, events } = await readFailure(text)
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(/not valid JSON/)
    expect(error.table).toBe('User')
    expect(events.filter((event) => event.type === 'rows').flatMap((event) => (event.type === 'rows' ? event.rows : []))).toEqual([])
  })

  it('malformed JSON in a pretty-printed file: the exact byte', async () => {
    const pretty = JSON.stringify(JSON.parse(await baseText()), null, 2)
    // [what to damage, the damage, the bad character's offset inside the damage]
    for (const [from, to, at] of [
      ['"n": 2', '"n": 2]', 6],
      ['"tableName": "Audit Log"', '"tableName": "Audit Log" "x"', 25],
      ['"version": "1.0"', '"version": "1.0" 1', 17],
      ['"records": [', '"records": [,', 12],
      ['"metadata": {', '"metadata": {]', 13],
    ] as const) {
      const text = replaceOnce(pretty, from, to)
      const { error } = await readFailure(text)
      expect(error, from).toBeInstanceOf(FormatError)
      expect(error.byteOffset, from).toBe(byteIndex(text, to) + at)
    }
  })

  it('a truncated file, cut anywhere: "ends unexpectedly" at the cut', async () => {
    const bytes = await writeBackup([{ schema: USER, rows: [{ id: 'ü👍', n: 1 }] }])
    for (let cut = 1; cut < bytes.length - 1; cut++) {
      const { error } = await readFailure(bytes.subarray(0, cut))
      if (!(error instanceof FormatError) || error.byteOffset !== cut || !/ends unexpectedly/.test(error.message)) {
        expect({ cut, error: String(error), byteOffset: error.byteOffset }).toEqual({ cut, error: 'FormatError: …ends unexpectedly…', byteOffset: cut })
      }
    }
    // The final newline is not part of the document.
    expect(await readEvents(bytes.subarray(0, bytes.length - 1))).toEqual(await readEvents(bytes))
  })

  it('data after the end of the document: the exact byte', async () => {
    const text = await baseText()
    for (const tail of ['x', '\n{"tables":[]}', '  ,', '\n\n]']) {
      const { error } = await readFailure(text + tail)
      expect(error, tail).toBeInstanceOf(FormatError)
      expect(error.byteOffset, tail).toBe(Buffer.byteLength(text) + tail.search(/\S/))
    }
    expect(await readEvents(Buffer.from(`${text} \n\n`))).toEqual(await readEvents(Buffer.from(text)))
  })

  it('bytes that are not UTF-8: the exact byte', async () => {
    const text = await baseText()
    const at = byteIndex(text, 'u2')
    const bytes = Buffer.from(text)
    bytes[at] = 0xff
    const { error } = await readFailure(bytes)
    expect(error).toBeInstanceOf(FormatError)
    expect(error).toMatchObject({ byteOffset: at, table: 'User' })
    expect(error.message).toMatch(/not valid UTF-8/)
  })

  it.each([
    ['"format": "mergeback"', '"format": "strapi"', /unsupported backup format "strapi"/],
    ['"version": "1.0"', '"version": "2.0"', /version "2.0" is not supported/],
    ['"version": "1.0"', '"version": "1.0.beta"', /version "1.0.beta" is not supported/],
    ['"version": "1.0",', '', /metadata has no format version/],
  ])('metadata %s → %s: FormatError at the metadata', async (from, to, message) => {
    const text = replaceOnce(await baseText(), from, to)
    const { error } = await readFailure(text)
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(message)
    expect(error.byteOffset).toBe(byteIndex(text, '"metadata"'))
  })

  it('a table name used twice: FormatError at the second table', async () => {
    const text = replaceOnce(await baseText(), '"tableName":"Audit Log"', '"tableName":"User"')
    const { error } = await readFailure(text)
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(/table "User" appears twice/)
    expect(error.byteOffset).toBe(byteIndex(text, '{"tableName":"User"', 20))
  })

  it.each(['[1]', 'null', '"x"', '42', 'true'])('a record that is %s: FormatError naming the table and record', async (record) => {
    const text = replaceOnce(await baseText(), '{"id":"u2","n":2}', record)
    const { error } = await readFailure(text)
    expect(error).toBeInstanceOf(FormatError)
    expect(error).toMatchObject({ table: 'User', recordIndex: 1, byteOffset: byteIndex(text, `${record},`) })
  })

  it('a primary key naming a column the table does not have', async () => {
    const text = replaceOnce(await baseText(), '"primaryKey":"id"', '"primaryKey":["id","nope"]')
    const { error } = await readFailure(text)
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(/primary key of table "User" names "nope"/)
    expect(error.byteOffset).toBe(byteIndex(text, '{"tableName":"User"'))
  })

  it('a record field that is not a column', async () => {
    const text = replaceOnce(await baseText(), '{"id":"u2","n":2}', '{"id":"u2","m":2}')
    const { error } = await readFailure(text)
    expect(error).toMatchObject({ table: 'User', recordIndex: 1, byteOffset: byteIndex(text, '{"id":"u2"') })
    expect(error.message).toMatch(/field "m" that is not one of its columns/)
  })

  it.each<[string, string, string, RegExp]>([
    ['a header field after the records', '{"tables":[{"tableName":"T","columns":[],"records":[],"primaryKey":null}],"metadata":{}}', '', /"primaryKey" comes after "records" in table "T"/],
    ['"records" twice', '{"tables":[{"tableName":"T","columns":[],"records":[],"records":[]}],"metadata":{}}', '', /"records" appears twice/],
    ['records that are not an array', '{"tables":[{"tableName":"T","columns":[],"records":{}}],"metadata":{}}', '', /records of table "T" are not an array/],
    ['"tables" that is not an array', '{"tables":{},"metadata":{}}', '', /"tables" is not an array/],
    ['a table that is not an object', '{"tables":[[]],"metadata":{}}', '', /an entry of "tables" is not an object/],
    ['a table without a name', '{"tables":[{"records":[]}],"metadata":{}}', '', /a table has a malformed header: tableName/],
    ['a column of an unknown kind', '{"tables":[{"tableName":"T","columns":[{"name":"a","type":"x","kind":"geometry"}],"records":[]}],"metadata":{}}', '', /table "T" has a malformed header: columns.0.kind/],
    ['two columns with one name', '{"tables":[{"tableName":"T","columns":[{"name":"a","type":"x"},{"name":"a","type":"y"}],"records":[]}],"metadata":{}}', '', /two columns named "a"/],
    ['"tables" and "collections"', '{"tables":[],"collections":{},"metadata":{}}', '', /both "tables" and "collections"/],
    ['"metadata" twice', '{"tables":[],"metadata":{},"metadata":{}}', '', /"metadata" appears twice/],
    ['metadata that is not an object', '{"tables":[],"metadata":[]}', '', /"metadata" is not an object/],
    ['no metadata', '{"tables":[]}', '', /has no "metadata"/],
    ['a malformed checksum', '{"tables":[],"metadata":{"checksums":{"T":"md5:0"}}}', '', /metadata is malformed: checksums.T/],
    ['a count that is not a count', '{"tables":[],"metadata":{"recordCounts":{"T":-1}}}', '', /metadata is malformed: recordCounts.T/],
    ['a version that is a number', '{"tables":[],"metadata":{"version":1}}', '', /version 1 is not supported/],
  ])('%s: FormatError', async (_name, text, _unused, message) => {
    const { error } = await readFailure(text)
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(message)
    expect(typeof error.byteOffset).toBe('number')
  })

  it('record counts that disagree with the records: FormatError naming the table', async () => {
    const text = replaceOnce(await baseText(), '"User": 3', '"User": 4')
    const { error, events } = await readFailure(text, { verifyChecksums: false })
    expect(error).toBeInstanceOf(FormatError)
    expect(error).toMatchObject({ table: 'User', byteOffset: byteIndex(text, '{"tableName":"User"') })
    expect(error.message).toBe('table "User" holds 3 records but the metadata counts 4')
    // Everything but the metadata was handed out: the error stands where the metadata event would.
    expect(events.map((event) => event.type)).toEqual(['table', 'rows', 'tableEnd', 'table', 'rows', 'tableEnd'])
  })

  it('a deleted record line: FormatError (the counts disagree) before any checksum is compared', async () => {
    const text = replaceOnce(await baseText(), '{"id":"u2","n":2},\n', '')
    const { error } = await readFailure(text)
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(/holds 2 records but the metadata counts 3/)
  })

  it('tables the metadata promises but the file lacks: FormatError', async () => {
    const text = await baseText()
    expect((await readFailure(replaceOnce(text, '"User": 3,', '"User": 3,\n    "Ghost": 5,'))).error.message).toMatch(/counts 5 records in table "Ghost"/)
    expect((await readFailure(replaceOnce(text, '"Audit Log"\n  ]', '"Audit Log",\n    "Ghost"\n  ]'))).error.message).toMatch(/lists the tables/)
    expect((await readFailure(replaceOnce(text, '"checksums": {', '"checksums": {\n    "Ghost": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",'))).error.message).toMatch(
      /checksum for table "Ghost"/,
    )
    const noChecksum = text.replace(/\n {4}"Audit Log": "sha256:[0-9a-f]+"/, '').replace(/("User": "sha256:[0-9a-f]+"),/, '$1')
    expect((await readFailure(noChecksum)).error.message).toMatch(/no checksum for table "Audit Log"/)
  })

  it('a hand-edited value: IntegrityError naming the table; accepted with verifyChecksums off', async () => {
    const text = replaceOnce(await baseText(), '{"id":"u2","n":2}', '{"id":"u2","n":20}')
    const { error, events } = await readFailure(text)
    expect(error).toBeInstanceOf(IntegrityError)
    expect(error).toMatchObject({ reason: 'checksum' })
    expect(error.message).toMatch(/table "User" does not match its checksum/)
    expect(events.filter((event) => event.type === 'metadata')).toEqual([])
    const unverified = await readEvents(Buffer.from(text), { verifyChecksums: false })
    expect(rowsOf(unverified, 'User')[1]).toEqual({ id: 'u2', n: 20 })
    expect(unverified.at(-1)?.type).toBe('metadata')
  })

  it('a re-spelled record line reads as changed (checksums cover the canonical text)', async () => {
    const text = replaceOnce(await baseText(), '{"id":"u2","n":2}', '{"id":"u2", "n":2}')
    expect((await readFailure(text)).error).toBeInstanceOf(IntegrityError)
  })

  it('reports the same error whatever the input chunking', async () => {
    const broken = [
      replaceOnce(await baseText(), '{"id":"u2","n":2}', '{"id":"u2","n":2x}'),
      replaceOnce(await baseText(), '"primaryKey":"id",', '"primaryKey":"id",,'),
      replaceOnce(await baseText(), '{"id":"u2","n":2}', '{"id":"u2","n":20}'),
      `${await baseText()}]`,
    ]
    for (const text of broken) {
      const bytes = Buffer.from(text)
      const whole = await readFailure(bytes)
      for (let at = 1; at < bytes.length; at += 7) {
        const split = await readFailure([bytes.subarray(0, at), bytes.subarray(at)])
        expect([split.error.constructor, split.error.message, split.error.byteOffset, split.events]).toEqual([
          whole.error.constructor,
          whole.error.message,
          whole.error.byteOffset,
          whole.events,
        ])
      }
    }
  })
})

describe("readBackup records: 'lines' and 'none'", () => {
  /** The canonical text of every record of `table`, as 'lines' events carry it. */
  function linesOf(events: readonly BackupEvent[], table: string): string {
    return events.flatMap((event) => (event.type === 'lines' && event.table === table ? [event.lines.toString('utf8')] : [])).join('')
  }

  it("'lines' hands out the canonical text of every record, on the fast path and the general parser alike", async () => {
    const bytes = await writeBackup(NATIVE_SMALL_TABLES, NATIVE_SMALL_OPTIONS)
    const parsed = await readEvents(bytes)
    const pretty = Buffer.from(JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2))
    for (const input of [bytes, pretty]) {
      const events = await readEvents(input, { records: 'lines' })
      expect(events.some((event) => event.type === 'rows')).toBe(false)
      for (const { schema, rows } of NATIVE_SMALL_TABLES) {
        expect(linesOf(events, schema.name)).toBe(rows.map((row) => `${JSON.stringify(row)}\n`).join(''))
      }
      // Same tables, counts, checksums and metadata as a parsing read.
      expect(events.filter((event) => event.type !== 'lines')).toEqual(parsed.filter((event) => event.type !== 'rows'))
    }
  })

  it("'lines' cuts batches at batchSize records and numbers them across batches", async () => {
    const rows = Array.from({ length: 25 }, (_, i) => ({ id: `u${i}`, n: i }))
    const events = await readEvents(await writeBackup([{ schema: USER, rows }]), { records: 'lines', batchSize: 10 })
    const batches = events.flatMap((event) => (event.type === 'lines' ? [[event.count, event.firstRecordIndex]] : []))
    expect(batches).toEqual([
      [10, 0],
      [10, 10],
      [5, 20],
    ])
  })

  it("'none' yields no records, but the same tables, counts, checksums and metadata", async () => {
    const bytes = await writeBackup(NATIVE_SMALL_TABLES, NATIVE_SMALL_OPTIONS)
    const parsed = await readEvents(bytes)
    const events = await readEvents(bytes, { records: 'none' })
    expect(events).toEqual(parsed.filter((event) => event.type !== 'rows'))
  })

  it("'none' still catches a changed record line (verifying, it parses every record) and a missing one (by the count)", async () => {
    const changed = replaceOnce(await baseText(), '{"id":"u2","n":2}', '{"id":"u2","n":2x}')
    expect((await readFailure(changed, { records: 'none' })).error).toBeInstanceOf(FormatError)
    const edited = replaceOnce(await baseText(), '{"id":"u2","n":2}', '{"id":"u2","n":3}')
    expect((await readFailure(edited, { records: 'none' })).error).toMatchObject({ reason: 'checksum' })
    const missing = replaceOnce(await baseText(), '{"id":"u2","n":2},\n', '')
    expect((await readFailure(missing, { records: 'none' })).error.message).toMatch(/holds 2 records but the metadata counts 3/)
  })
})

describe("readBackup records: 'lines' with convertLines (one walk that checks and converts)", () => {
  /** markingConverter for each table, with the names of the tables it was asked for. */
  function marking(refuse?: (text: string) => boolean): { convertLines: (table: TableSchema) => LineConverter; tables: string[] } {
    const tables: string[] = []
    return {
      tables,
      convertLines: (table) => {
        tables.push(table.name)
        return markingConverter(refuse)
      },
    }
  }
  const converted = (events: readonly BackupEvent[], table: string): string =>
    events.flatMap((event) => (event.type === 'lines' && event.table === table ? [event.lines.toString('utf8')] : [])).join('')

  it('hands on the conversion of every record in order, checked lines by convertChecked, the rest by convert; counts and checksums as before', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => ({ id: `u${i}`, n: i }))
    const bytes = await writeBackup([{ schema: USER, rows }, { schema: AUDIT, rows: [{ id: 'a', n: null }] }])
    const plain = await readEvents(bytes, { records: 'lines', batchSize: 10 })
    const { convertLines, tables } = marking((text) => text.includes('"u7"'))
    const events = await readEvents(bytes, { records: 'lines', batchSize: 10, convertLines })
    expect(tables).toEqual(['User', 'Audit Log'])
    expect(converted(events, 'User')).toBe(rows.map((row) => `${row.id === 'u7' ? 'S' : 'C'}${JSON.stringify(row)}\n`).join(''))
    expect(converted(events, 'Audit Log')).toBe('C{"id":"a","n":null}\n')
    // The same events otherwise: batches, record numbers, tables, counts, checksums, metadata.
    const strip = (list: readonly BackupEvent[]) => list.map((event) => (event.type === 'lines' ? { ...event, lines: undefined } : event))
    expect(strip(events)).toEqual(strip(plain))
    // Records the general parser reads (not one to a line) are converted from their canonical text.
    const pretty = Buffer.from(JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2))
    expect(converted(await readEvents(pretty, { records: 'lines', convertLines: marking().convertLines }), 'User')).toBe(rows.map((row) => `S${JSON.stringify(row)}\n`).join(''))
  })

  it('a key twice is refused as before when the converter made the check', async () => {
    const KEYED: TableSchema = { ...USER, name: 'K', columns: [{ name: 'id', type: 'integer', kind: 'integer', nullable: false }, { name: 'n', type: 'text', kind: 'text', nullable: true }] }
    const bytes = await writeBackup([{ schema: KEYED, rows: [{ id: 1, n: 'a' }, { id: 2, n: 'b' }, { id: 1, n: 'c' }] }])
    const { error } = await readFailure(bytes, { records: 'lines', convertLines: marking().convertLines })
    expect(error).toBeInstanceOf(FormatError)
    expect(error.message).toMatch(/table "K" holds the key \(id\) = 1 twice: record 2 has the key of an earlier record/)
    expect(error).toMatchObject({ table: 'K', recordIndex: 2 })
  })

  it('a line the converter vouches for still obeys the nesting limit (the converter does not check it)', async () => {
    const table: TableSchema = { ...USER, columns: [...USER.columns, { name: 'doc', type: 'jsonb', kind: 'json', nullable: true }] }
    const deep = (levels: number): unknown => (levels === 0 ? 1 : [deep(levels - 1)])
    // Records sit at depth 5: a doc of 7 levels reaches 12, the limit; 8 goes one deeper.
    const within = await writeBackup([{ schema: table, rows: [{ ...USER_ROWS[0]!, doc: deep(7) as Row[string] }] }])
    const deeper = await writeBackup([{ schema: table, rows: [{ ...USER_ROWS[0]!, doc: deep(8) as Row[string] }] }])
    for (const verifyChecksums of [true, false]) {
      const options = { records: 'lines' as const, verifyChecksums, computeChecksums: verifyChecksums, limits: { maxDepth: 12 }, convertLines: marking().convertLines }
      expect(converted(await readEvents(within, options), 'User')).toMatch(/^C/)
      const { error } = await readFailure(deeper, options)
      expect(error.message).toMatch(/record 0 of table "User" is nested deeper than 12 levels \(limit maxDepth = 12/)
    }
  })

  it('convertedBatchSize sizes the batches of converted tables only; batchSize those of the others', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => ({ id: `u${i}`, n: i }))
    const bytes = await writeBackup([{ schema: USER, rows }, { schema: AUDIT, rows: rows.map((row) => ({ id: row.id, n: null })) }])
    // Only User is converted: Audit Log's lines come as they are, in batches of batchSize.
    const convertLines = (table: TableSchema) => (table.name === 'User' ? marking().convertLines(table) : undefined)
    const events = await readEvents(bytes, { records: 'lines', batchSize: 5, convertedBatchSize: 20, convertLines })
    const counts = (table: string) => events.flatMap((event) => (event.type === 'lines' && event.table === table ? [event.count] : []))
    expect(counts('User')).toEqual([20, 5])
    expect(counts('Audit Log')).toEqual([5, 5, 5, 5, 5])
    expect(converted(events, 'User')).toBe(rows.map((row) => `C${JSON.stringify(row)}\n`).join(''))
    await expect(readEvents(bytes, { records: 'lines', convertedBatchSize: 0, convertLines })).rejects.toThrow(/convertedBatchSize must be a positive integer/)
  })

  it("is not used outside 'lines' mode", async () => {
    const { convertLines, tables } = marking()
    const bytes = await writeBackup([{ schema: USER, rows: USER_ROWS }])
    expect(rowsOf(await readEvents(bytes, { records: 'parsed', convertLines }), 'User')).toEqual(USER_ROWS)
    expect(tables).toEqual([])
  })
})

describe('readBackup computeChecksums', () => {
  it('off: the same events with empty checksums, and no mismatch can be found', async () => {
    const text = replaceOnce(await baseText(), '{"id":"u2","n":2}', '{"id":"u2","n":20}')
    const events = await readEvents(Buffer.from(text), { verifyChecksums: false, computeChecksums: false })
    expect(events.filter((event) => event.type === 'tableEnd').map((event) => event.type === 'tableEnd' && event.checksum)).toEqual(['', ''])
    expect(rowsOf(events, 'User')[1]).toEqual({ id: 'u2', n: 20 })
    expect(events.at(-1)?.type).toBe('metadata')
  })

  it('off is refused while verifying', async () => {
    await expect(readEvents(Buffer.from(await baseText()), { computeChecksums: false })).rejects.toBeInstanceOf(UsageError)
  })
})

describe('readBackup: the same key twice in a table (issue #13, finding 4)', () => {
  const KEYED: TableSchema = { ...USER, name: 'K', columns: [{ name: 'id', type: 'integer', kind: 'integer', nullable: false }, { name: 'n', type: 'text', kind: 'text', nullable: true }] }

  it.each(['parsed', 'lines', 'none'] as const)('records %s: a verifying pass refuses it, naming table, key and record, on both parsers', async (records) => {
    const bytes = await writeBackup([{ schema: KEYED, rows: [{ id: 1, n: 'a' }, { id: 2, n: 'b' }, { id: 1, n: 'c' }] }])
    for (const input of [bytes, Buffer.from(JSON.stringify(JSON.parse(bytes.toString('utf8')), null, 2))]) {
      const { error } = await readFailure(input, { records })
      expect(error).toBeInstanceOf(FormatError)
      expect(error.message).toMatch(/table "K" holds the key \(id\) = 1 twice: record 2 has the key of an earlier record/)
      expect(error).toMatchObject({ table: 'K', recordIndex: 2 })
    }
  })

  it('1, 1.0 and "1" are one key in a numeric column; "1" and "01" are two in a text column', async () => {
    const text = (await writeBackup([{ schema: KEYED, rows: [{ id: 1, n: 'a' }, { id: 2, n: 'b' }] }])).toString('utf8')
    // Same record count and a matching checksum are not needed: the key check comes first.
    expect((await readFailure(replaceOnce(text, '{"id":2,', '{"id":1.0,'))).error.message).toMatch(/holds the key \(id\) = 1 twice/)
    expect((await readFailure(replaceOnce(text, '{"id":2,', '{"id":"001",'))).error.message).toMatch(/holds the key \(id\) = "001" twice/)
    const texts = await writeBackup([{ schema: USER, rows: [{ id: '1', n: 1 }, { id: '01', n: 2 }, { id: '1.0', n: 3 }] }])
    expect((await readEvents(texts)).at(-1)?.type).toBe('metadata')
  })

  it('a table without a key keeps identical records (whole-row identity, DESIGN.md §5)', async () => {
    const bytes = await writeBackup([{ schema: AUDIT, rows: [{ id: 'a', n: 1 }, { id: 'a', n: 1 }] }])
    expect(rowsOf(await readEvents(bytes), 'Audit Log')).toHaveLength(2)
  })

  it('a key with a null part is never a duplicate; composite keys compare every part', async () => {
    const pair: TableSchema = { ...KEYED, name: 'P', primaryKey: ['id', 'n'] }
    const ok = await writeBackup([{ schema: pair, rows: [{ id: 1, n: 'a' }, { id: 1, n: 'b' }, { id: 1, n: null }, { id: 1, n: null }] }])
    expect(rowsOf(await readEvents(ok), 'P')).toHaveLength(4)
    const bad = await writeBackup([{ schema: pair, rows: [{ id: 1, n: 'a' }, { id: 2, n: 'a' }, { id: 1, n: 'a' }] }])
    expect((await readFailure(bad)).error.message).toMatch(/holds the key \(id, n\) = \[1,"a"\] twice/)
  })

  it('a pass that does not verify (the file was verified before) does not look', async () => {
    const bytes = await writeBackup([{ schema: KEYED, rows: [{ id: 1, n: 'a' }, { id: 1, n: 'b' }] }])
    expect(rowsOf(await readEvents(bytes, { verifyChecksums: false }), 'K')).toHaveLength(2)
  })

  it('20 000 distinct keys in order pass (the key log grows past its first size several times)', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => ({ id: i, n: null }))
    const events = await readEvents(await writeBackup([{ schema: KEYED, rows }]), { records: 'none' })
    expect(events.at(-1)?.type).toBe('metadata')
  })
})

describe('readBackup limits: named with their value, flag and variable', () => {
  it('every limit error carries limit, value, flag and env in its details', async () => {
    const bytes = await writeBackup([{ schema: USER, rows: USER_ROWS }])
    const cases = [
      [{ maxColumns: 1 }, 'maxColumns', '--max-columns', 'MERGEBACK_MAX_COLUMNS'],
      [{ maxDepth: 2 }, 'maxDepth', '--max-depth', 'MERGEBACK_MAX_DEPTH'],
      [{ maxRecordBytes: 10 }, 'maxRecordBytes', '--max-record-bytes', 'MERGEBACK_MAX_RECORD_BYTES'],
      [{ maxDecompressedBytes: 100 }, 'maxDecompressedBytes', '--max-decompressed-bytes', 'MERGEBACK_MAX_DECOMPRESSED_BYTES'],
    ] as const
    for (const [limits, key, flag, env] of cases) {
      const { error } = await readFailure(bytes, { limits })
      expect(error, key).toBeInstanceOf(FormatError)
      const value = Object.values(limits)[0]
      expect(error.message).toContain(`(limit ${key} = ${value}; raise it with the flag ${flag}, the environment variable ${env}`)
      expect((error as FormatError).details).toMatchObject({ limit: key, limitValue: value, flag, env })
    }
    const tables = await writeBackup([{ schema: USER, rows: USER_ROWS }, { schema: AUDIT, rows: [] }])
    expect((await readFailure(tables, { limits: { maxTables: 1 } })).error.message).toMatch(/more than 1 tables \(limit maxTables = 1; raise it with the flag --max-tables/)
  })

  it('maxDepth on record lines, in every records mode and pass: a record at the limit is read, one level deeper is refused', async () => {
    // Records sit at depth 5 ({ tables [ { records [ record): a field of d levels reaches 5 + d.
    const table: TableSchema = { ...USER, columns: [...USER.columns, { name: 'doc', type: 'jsonb', kind: 'json', nullable: true }] }
    // n + 1 levels for n ≥ 1: the empty array at the bottom is the last.
    const nested = (levels: number): unknown => (levels === 0 ? 1 : levels % 2 === 0 ? { k: nested(levels - 1) } : [nested(levels - 1), []])
    for (const records of ['parsed', 'lines', 'none'] as const) {
      for (const verifyChecksums of [true, false]) {
        const options = { records, verifyChecksums, computeChecksums: verifyChecksums, limits: { maxDepth: 12 } }
        // doc of 7 levels: 5 + 7 = 12, the limit; one more is refused.
        const within = await writeBackup([{ schema: table, rows: [{ ...USER_ROWS[0]!, doc: nested(6) as Row[string] }] }])
        expect((await readEvents(within, options)).at(-1)?.type, `${records} ${verifyChecksums}`).toBe('metadata')
        const deeper = await writeBackup([{ schema: table, rows: [{ ...USER_ROWS[0]!, doc: nested(7) as Row[string] }] }])
        const { error } = await readFailure(deeper, options)
        expect(error.message, `${records} ${verifyChecksums}`).toMatch(/record 0 of table "User" is nested deeper than 12 levels \(limit maxDepth = 12/)
      }
    }
  })

  it('a bad limit given to the library is a UsageError naming it', async () => {
    await expect(readEvents(Buffer.from('{}'), { limits: { maxDepth: 0 } })).rejects.toThrow(/limits.maxDepth must be a positive whole number/)
  })
})

describe('recordKeys (a chain scan takes the keys an increment touches in its verifying pass)', () => {
  /** The keys handed to recordKeys per table, reading `text` as asked. */
  async function keysHanded(text: string, options: Parameters<typeof readBackup>[1]): Promise<Record<string, unknown[][]>> {
    const keys: Record<string, unknown[][]> = {}
    const asked = { ...options, recordKeys: (table: TableSchema) => (key: readonly unknown[]) => void (keys[table.name] ??= []).push([...key]) }
    for await (const event of readBackup([Buffer.from(text, 'utf8')], asked)) void event
    return keys
  }

  it('hands on each record key of a keyed table once checked, on the fast path and the general parser, in every records mode', async () => {
    const text = await baseText()
    const spaced = text.replace(/\n/g, '\r\n')
    for (const records of ['none', 'parsed', 'lines'] as const) {
      for (const input of [text, spaced]) {
        // The keyless table ("Audit Log") hands on nothing.
        expect(await keysHanded(input, { records }), records).toEqual({ User: [['u1'], ['u2'], ['u3']] })
      }
    }
  })

  it('not in a pass that does not verify (no key check there)', async () => {
    expect(await keysHanded(await baseText(), { records: 'none', verifyChecksums: false })).toEqual({})
  })

  it('a key twice is refused before it is handed on', async () => {
    const text = replaceOnce(await baseText(), '"id":"u2"', '"id":"u1"')
    const keys: unknown[][] = []
    const failure = await readFailure(text, { records: 'none', recordKeys: () => (key) => void keys.push([...key]) })
    expect(failure.error).toBeInstanceOf(FormatError)
    expect(keys).toEqual([['u1']])
  })
})
