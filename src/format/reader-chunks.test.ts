/**
 * readBackup keeps no view of an input chunk past its turn (storage/open.ts openBackupChunks reads
 * a plain file into two buffers used in turn): fed from one buffer that is overwritten every time
 * the reader asks for the next chunk, it must give exactly the events of a read from fresh
 * buffers, in every mode, at every cut, to a consumer that holds every event until the end.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Row, TableSchema } from '../adapters/adapter.js'
import { writeBackup } from '../../test/fixtures/format-v1/fixtures.js'
import { readBackup, type LineConverter, type ReadBackupOptions } from './reader.js'
import { scanRecord } from './record-scan.js'
import type { BackupEvent } from './types.js'

const TABLE: TableSchema = {
  name: 'Item',
  columns: [
    { name: 'id', type: 'text', kind: 'text', nullable: false },
    { name: 'n', type: 'integer', kind: 'integer', nullable: true },
    { name: 'text', type: 'text', kind: 'text', nullable: true },
  ],
  primaryKey: ['id'],
  uniqueConstraints: [],
  indexes: [],
  foreignKeys: [],
}
const KEYLESS: TableSchema = { ...TABLE, name: 'Log', primaryKey: [] }

/**
 * `bytes` cut at `cuts` (increasing offsets), each piece copied into one buffer that is filled with
 * `{` the moment the next piece is asked for: a view the reader kept of an earlier piece reads
 * other bytes from then on.
 */
async function* reusedBuffer(bytes: Buffer, cuts: readonly number[]): AsyncGenerator<Buffer> {
  const buffer = Buffer.alloc(bytes.length)
  let from = 0
  for (const at of [...cuts, bytes.length]) {
    if (at <= from) continue
    buffer.fill(0x7b)
    bytes.copy(buffer, 0, from, at)
    yield buffer.subarray(0, at - from)
    from = at
  }
  buffer.fill(0x7b)
}

/** The same pieces, each a fresh copy (what a stream of new Buffers gives). */
function freshPieces(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const ends = [...cuts, bytes.length]
  return ends.flatMap((at, i) => (at > (ends[i - 1] ?? 0) ? [Buffer.from(bytes.subarray(ends[i - 1] ?? 0, at))] : []))
}

/** A converter that copies each line's text (as the real ones write theirs into their own buffers). */
function copyingConverter(): (table: TableSchema) => LineConverter {
  return () => {
    const parts: Buffer[] = []
    return {
      convertChecked(buffer, start, end, shape) {
        if (scanRecord(buffer, start, end, shape) === undefined) return false
        parts.push(Buffer.from('C'), Buffer.from(buffer.subarray(start, end)), Buffer.from('\n'))
        return true
      },
      convert(line) {
        parts.push(Buffer.from('S'), Buffer.from(line), Buffer.from('\n'))
      },
      take() {
        const taken = Buffer.concat(parts)
        parts.length = 0
        return taken
      },
    }
  }
}

const MODES: Record<string, () => ReadBackupOptions> = {
  parsed: () => ({ batchSize: 3 }),
  lines: () => ({ records: 'lines', batchSize: 3 }),
  'lines, unverified': () => ({ records: 'lines', batchSize: 2, verifyChecksums: false, computeChecksums: false }),
  'lines, converted': () => ({ records: 'lines', batchSize: 3, convertLines: copyingConverter() }),
  none: () => ({ records: 'none' }),
}

/** Every event, held to the end (a slow consumer keeps what it was given), then made comparable. */
async function heldEvents(input: Iterable<Buffer> | AsyncIterable<Buffer>, options: ReadBackupOptions): Promise<unknown[]> {
  const held: BackupEvent[] = []
  for await (const event of readBackup(input, options)) held.push(event)
  return held.map((event) => (event.type === 'lines' ? { ...event, lines: event.lines.toString('latin1') } : event))
}

async function errorOf(input: AsyncIterable<Buffer>, options: ReadBackupOptions): Promise<unknown> {
  try {
    await heldEvents(input, options)
    return undefined
  } catch (error) {
    return String(error)
  }
}

function rows(count: number, text: (i: number) => string | null): Row[] {
  return Array.from({ length: count }, (_, i) => ({ id: `k${i}`, n: i % 3 === 0 ? null : i * 7, text: text(i) }))
}

describe('readBackup from one reused buffer', () => {
  it('gives the events of fresh buffers at every cut in two, in every mode', async () => {
    const bytes = await writeBackup([
      { schema: TABLE, rows: rows(9, (i) => (i % 2 === 0 ? `é€😀 ${'x'.repeat(i * 5)}` : null)) },
      { schema: KEYLESS, rows: rows(4, (i) => `line ${i}`) },
    ])
    for (const [mode, options] of Object.entries(MODES)) {
      const expected = await heldEvents([bytes], options())
      expect(expected.at(-1)).toMatchObject({ type: 'metadata' })
      for (let at = 1; at < bytes.length; at++) {
        const events = await heldEvents(reusedBuffer(bytes, [at]), options())
        if (JSON.stringify(events) !== JSON.stringify(expected)) expect({ mode, at, events }).toEqual({ mode, at, events: expected })
      }
      expect(await heldEvents(reusedBuffer(bytes, Array.from({ length: bytes.length }, (_, i) => i)), options()), mode).toEqual(expected)
    }
  }, 180_000)

  it('gives the events of fresh buffers at any cuts, rows of any length and text (property)', async () => {
    const row = fc.record({
      n: fc.oneof(fc.integer(), fc.constant(null)),
      text: fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.constant(null)),
    })
    await fc.assert(
      fc.asyncProperty(
        fc.array(row, { maxLength: 12 }),
        fc.uniqueArray(fc.nat(), { maxLength: 8 }),
        fc.constantFrom(...Object.keys(MODES)),
        async (made, seeds, mode) => {
          const bytes = await writeBackup([{ schema: TABLE, rows: made.map((r, i) => ({ id: `k${i}`, ...r })) }])
          const cuts = [...new Set(seeds.map((seed) => seed % bytes.length))].sort((a, b) => a - b)
          expect(await heldEvents(reusedBuffer(bytes, cuts), MODES[mode]!())).toEqual(await heldEvents(freshPieces(bytes, cuts), MODES[mode]!()))
        },
      ),
      { numRuns: 200 },
    )
  }, 180_000)

  it('reports a damaged file as from fresh buffers', async () => {
    const bytes = await writeBackup([{ schema: TABLE, rows: rows(20, (i) => `t${i}`) }])
    const damaged = Buffer.from(bytes.toString('utf8').replace('"k7"', '"k3"').replace('"t12"', '"t12'))
    for (const [mode, options] of Object.entries(MODES)) {
      const expected = await errorOf(
        (async function* () {
          yield damaged
        })(),
        options(),
      )
      // Unverified, record lines are taken as they are.
      if (mode !== 'lines, unverified') expect(expected, mode).toMatch(/twice|not valid JSON/)
      for (const size of [1, 7, 64, 500]) {
        const cuts = Array.from({ length: Math.ceil(damaged.length / size) }, (_, i) => i * size)
        expect(await errorOf(reusedBuffer(damaged, cuts), options())).toBe(expected)
      }
    }
  })

  it('hands on lines longer than a chunk, and a huge record line, intact', async () => {
    // Lines of several chunks each, and one of 9 MiB (gathered from the chunks into a buffer of the
    // reader's own, handed on whole: so the events depend on the cuts, and are compared at the same cuts).
    const made = rows(12, (i) => (i === 5 ? 'h'.repeat(9 * 1024 * 1024) : `${String(i).repeat(70_000 + i)}`))
    const bytes = await writeBackup([{ schema: TABLE, rows: made }])
    const cuts = Array.from({ length: Math.ceil(bytes.length / 65_536) }, (_, i) => i * 65_536)
    for (const mode of ['parsed', 'lines', 'lines, converted', 'none']) {
      const options = MODES[mode]!
      const events = await heldEvents(reusedBuffer(bytes, cuts), options())
      // Not toEqual: a failure would print megabytes.
      expect(JSON.stringify(events) === JSON.stringify(await heldEvents(freshPieces(bytes, cuts), options())), mode).toBe(true)
    }
  }, 120_000)

  it('reads a minified file (one long line, tokenized in pieces) as from fresh buffers', async () => {
    const bytes = Buffer.from(JSON.stringify(JSON.parse((await writeBackup([{ schema: TABLE, rows: rows(10_000, (i) => `text ${i} `.repeat(100)) }])).toString('utf8'))))
    expect(bytes.length).toBeGreaterThan(8 * 1024 * 1024 + 1)
    const cuts = Array.from({ length: Math.ceil(bytes.length / 1_000_003) }, (_, i) => i * 1_000_003)
    for (const mode of ['parsed', 'lines']) {
      const options = MODES[mode]!
      const events = await heldEvents(reusedBuffer(bytes, cuts), options())
      expect(JSON.stringify(events) === JSON.stringify(await heldEvents(freshPieces(bytes, cuts), options())), mode).toBe(true)
    }
  }, 120_000)
})
