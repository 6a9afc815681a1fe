/**
 * The MariaDB backup fast path (Source.readRecordLines): each record line is built from the bytes
 * the server sent, per column kind. It must give, byte for byte, JSON.stringify of the rows
 * readTable gives, for every type (the conformance matrix, edge values, arbitrary text), and
 * decline (undefined) the tables it cannot write exactly.
 */
import fc from 'fast-check'
import mysql from 'mysql2/promise'
import { afterAll, describe, expect, it } from 'vitest'
import { mysqlAdapter } from '../../../src/adapters/mysql/mysql-adapter.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { createMysqlDatabase, databasesOfFile, mysqlQuery } from '../../helpers/databases.js'
import { readLines, readRowsAsLines } from '../../helpers/record-lines.js'
import { MATRIX_ROWS, TYPE_MATRIX } from '../../fixtures/types/mysql-types.js'

const databases = databasesOfFile(() => createMysqlDatabase('mblines'))
afterAll(() => databases.dropAll())

/** Every table of the database: [record lines, readTable's rows as lines]. */
async function bothWays(url: string, batchSize?: number): Promise<Record<string, [string | undefined, string]>> {
  const source = await mysqlAdapter.openSource(parseDatabaseUrl(url))
  try {
    const result: Record<string, [string | undefined, string]> = {}
    for (const table of (await source.describe()).tables) result[table.name] = [await readLines(source, table, batchSize === undefined ? {} : { batchSize }), await readRowsAsLines(source, table)]
    return result
  } finally {
    await source.close()
  }
}

describe('MariaDB record lines', () => {
  it('are JSON.stringify of readTable\'s rows for every type of the conformance matrix', async () => {
    const db = await databases.fresh()
    await mysqlQuery(db.url, TYPE_MATRIX, MATRIX_ROWS)
    const { matrix } = await bothWays(db.url, 3)
    expect(matrix[0]).toBeDefined()
    expect(matrix[0]).toBe(matrix[1])
    expect(matrix[1].split('\n')).toHaveLength(5)
  })

  it('spell ZEROFILL, YEAR, floats, geometry, bits, times and escapes as readTable does', async () => {
    const db = await databases.fresh()
    await mysqlQuery(
      db.url,
      `CREATE TABLE edge (id INT PRIMARY KEY, z INT(6) UNSIGNED ZEROFILL, bz BIGINT(8) UNSIGNED ZEROFILL, dz DECIMAL(8,3) ZEROFILL,
        y YEAR, f FLOAT, d DOUBLE, g GEOMETRY, p POINT, bit3 BIT(3), t TIME(3), ts TIMESTAMP(3) NULL, dt DATETIME(3),
        s VARCHAR(200), bin VARBINARY(20), \`we"ird\\\\name\` INT) CHARACTER SET utf8mb4`,
      `INSERT INTO edge VALUES
        (1, 42, 7, 1.5, 0, 0.1, 0.1, ST_GeomFromText('POINT(1 2)'), POINT(3, 4), b'101', '-00:00:01.500', '1970-01-01 00:00:01.000', '2024-01-02 03:04:05.100',
         '\\0\\b\\t\\n\\r\\Z "q" \\\\ \\'a\\' ${'\u007f'} é 😀', x'00ff', -1),
        (2, 0, 0, 0, 1999, -3.4028234663852886e38, 1e-7, NULL, NULL, b'000', '00:00:00', '2038-01-19 03:14:07.999', '0000-00-00 00:00:00',
         '${'\u2028\u2029'}', x'', 0),
        (3, 4294967295, 18446744073709551615, 99999.999, 2155, 1.17549435e-38, -2.2250738585072014e-308, NULL, NULL, b'111', '838:59:59', NULL, NULL, NULL, NULL, NULL)`,
    )
    const { edge } = await bothWays(db.url)
    expect(edge[0]).toBe(edge[1])
    expect(edge[1]).toContain('"z":42,"bz":"00000007"')
  })

  it('hold arbitrary text exactly', async () => {
    const db = await databases.fresh()
    await mysqlQuery(db.url, 'CREATE TABLE t (id INT PRIMARY KEY, s LONGTEXT, j JSON) CHARACTER SET utf8mb4')
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ unit: 'binary', maxLength: 40 }), { minLength: 1, maxLength: 20 }), async (texts) => {
        // Lone surrogates cannot be stored in utf8mb4; the database gets well-formed text.
        const values = texts.map((t) => t.replace(/[\uD800-\uDFFF]/gu, '\uFFFD'))
        await mysqlQuery(db.url, 'DELETE FROM t')
        const conn = await mysql.createConnection({ uri: db.url, charset: 'UTF8MB4_GENERAL_CI' })
        try {
          for (let i = 0; i < values.length; i++) await conn.query('INSERT INTO t VALUES (?, ?, JSON_QUOTE(?))', [i, values[i], values[i]])
        } finally {
          await conn.end()
        }
        const { t } = await bothWays(db.url)
        expect(t[0]).toBe(t[1])
      }),
      { numRuns: 15 },
    )
  })

  it('escape a byte to escape wherever it falls in the four-byte words #string reads, in ASCII and in UTF-8 text', async () => {
    const db = await databases.fresh()
    await mysqlQuery(db.url, 'CREATE TABLE t (id INT PRIMARY KEY, s TEXT) CHARACTER SET utf8mb4')
    const specials = [...Array.from({ length: 0x20 }, (_, b) => String.fromCharCode(b)), '"', '\\', '\u007f', 'é', '€', '😀']
    const values: string[] = []
    // Texts of 1 to 13 bytes around one special character, at each place, so that it falls at
    // every position of a word and in the bytes after the last whole word; prefixes shift the start.
    for (const special of specials) for (let length = 0; length <= 12; length++) for (let place = 0; place <= length; place++) values.push('abcdefghijkl'.slice(0, place) + special + 'mnopqrstuvwx'.slice(0, length - place))
    values.push('', 'abcd', 'abcdefgh', 'plain ASCII text of some length, with no byte to escape at all')
    const conn = await mysql.createConnection({ uri: db.url, charset: 'UTF8MB4_GENERAL_CI' })
    try {
      for (let i = 0; i < values.length; i += 500) await conn.query('INSERT INTO t VALUES ?', [values.slice(i, i + 500).map((v, j) => [i + j, v])])
    } finally {
      await conn.end()
    }
    const { t } = await bothWays(db.url)
    expect(t[0]).toBeDefined()
    expect(t[0]).toBe(t[1])
    expect(t[1].split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { s: string }).s)).toEqual(values)
  })

  it('are fetched by key in statements of bounded size: 2000 keys of 700 characters (1.4 MB of literals) all come back', async () => {
    const db = await databases.fresh()
    await mysqlQuery(
      db.url,
      'CREATE TABLE long_keys (k varchar(700) CHARACTER SET utf8mb4 PRIMARY KEY, n int)',
      "INSERT INTO long_keys SELECT CONCAT(LPAD(seq, 6, '0'), REPEAT('é', 694)), seq FROM seq_1_to_2500",
    )
    const source = await mysqlAdapter.openSource(parseDatabaseUrl(db.url))
    try {
      const table = (await source.describe()).tables[0]!
      const keys = Array.from({ length: 2000 }, (_, i) => [`${String(i * 5 + 3).padStart(6, '0')}${'é'.repeat(694)}`])
      const found: number[] = []
      for await (const chunk of source.readRecordLinesByKeys!(table, keys)!) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') found.push((JSON.parse(line) as { n: number }).n)
      }
      expect(found).toEqual(Array.from({ length: 500 }, (_, i) => i * 5 + 3))
    } finally {
      await source.close()
    }
  })

  it('come in chunks of at most a pool (1 MiB) or batchSize rows, whole lines each, and a read left while the socket is paused leaves the source usable', async () => {
    const db = await databases.fresh()
    await mysqlQuery(
      db.url,
      'CREATE TABLE wide (id INT PRIMARY KEY, body TEXT) CHARACTER SET utf8mb4',
      "INSERT INTO wide SELECT seq, CONCAT(REPEAT('x', 1100), seq) FROM seq_1_to_6000",
      'CREATE TABLE narrow (id INT PRIMARY KEY, n INT)',
      'INSERT INTO narrow SELECT seq, seq * 2 FROM seq_1_to_25000',
    )
    const source = await mysqlAdapter.openSource(parseDatabaseUrl(db.url))
    try {
      const tables = (await source.describe()).tables
      const wide = tables.find((t) => t.name === 'wide')!
      const narrow = tables.find((t) => t.name === 'narrow')!
      const shapes = async (table: typeof wide): Promise<{ sizes: number[]; rows: number[]; text: string }> => {
        const sizes: number[] = []
        const rows: number[] = []
        const chunks: Buffer[] = []
        for await (const chunk of source.readRecordLines!(table)!) {
          expect(chunk[chunk.length - 1]).toBe(0x0a)
          sizes.push(chunk.length)
          rows.push(chunk.toString('latin1').split('\n').length - 1)
          chunks.push(chunk)
        }
        return { sizes, rows, text: Buffer.concat(chunks).toString('utf8') }
      }
      // ~1.1 kB lines: a 1000-row batch would be ~1.1 MB, so chunks are cut by the pool instead.
      const w = await shapes(wide)
      expect(w.text).toBe(await readRowsAsLines(source, wide))
      expect(Math.max(...w.sizes)).toBeLessThanOrEqual(1 << 20)
      expect(Math.max(...w.rows)).toBeLessThan(1000)
      expect(w.rows.reduce((a, b) => a + b, 0)).toBe(6000)
      // Short lines: whole batches of 1000 rows (a pool's tail too short for more is not cut into tiny chunks).
      const n = await shapes(narrow)
      expect(n.text).toBe(await readRowsAsLines(source, narrow))
      expect(n.rows).toEqual(Array.from({ length: 25 }, () => 1000))
      // The consumer holds the first chunk while the next one fills and the socket is paused, then leaves.
      let taken = 0
      for await (const chunk of source.readRecordLines!(wide)!) {
        expect(chunk.length).toBeGreaterThan(0)
        await new Promise((resolve) => setTimeout(resolve, 300))
        if (++taken === 2) break
      }
      expect((await readLines(source, narrow))!.split('\n')).toHaveLength(25001)
    } finally {
      await source.close()
    }
  })

  it('are declined for a column a JS object would move to the front (an array index)', async () => {
    const db = await databases.fresh()
    await mysqlQuery(db.url, 'CREATE TABLE n (id INT PRIMARY KEY, `7` INT, `07` INT)', 'INSERT INTO n VALUES (1, 2, 3)')
    const source = await mysqlAdapter.openSource(parseDatabaseUrl(db.url))
    try {
      const [table] = (await source.describe()).tables
      expect(source.readRecordLines?.(table)).toBeUndefined()
      // Why: the row object lists "7" before "id", unlike the columns.
      expect(await readRowsAsLines(source, table)).toBe('{"7":2,"id":1,"07":3}\n')
    } finally {
      await source.close()
    }
  })
})
