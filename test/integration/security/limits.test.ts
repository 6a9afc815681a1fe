/**
 * Issue #13, finding 3 and the reader's limits: a value nested 100 000 deep, a record beyond the
 * size limit, too many columns — each refused (exit 2, naming the limit and how to raise it) by
 * verify and by restore alike, before anything is created.
 */
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from '../../helpers/cli.js'
import { makeTempDir } from '../../helpers/databases.js'
import { keyedTable, nested, writeCraftedFile } from './crafted-files.js'
import Database from 'better-sqlite3'

const temp = makeTempDir('mblimits-')
afterAll(() => temp.cleanup())

async function verifyAndRestore(file: string, env: Record<string, string> = {}): Promise<{ verify: number; restore: number; stderr: string; tables: string[] }> {
  const verified = await runCli(['verify', file], { env })
  const db = path.join(temp.dir, `${path.basename(file)}.db`)
  const restored = await runCli(['restore', file, '--db', `sqlite:${db}`], { env })
  const handle = new Database(db)
  const tables = (handle.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name)
  handle.close()
  return { verify: verified.code, restore: restored.code, stderr: restored.stderr, tables }
}

describe('reader limits apply to verify and restore alike', () => {
  it('a value nested 100 000 deep: verify and restore both exit 2 naming the limit; nothing is created', async () => {
    for (const typed of [true, false]) {
      const file = path.join(temp.dir, `deep-${typed}.json`)
      writeCraftedFile(file, 'sqlite', [keyedTable([`{"id":1,"a":${nested(100_000)}}`, '{"id":2,"a":null}'], 'unknown', typed)])
      const result = await verifyAndRestore(file)
      expect(result, `typed ${typed}`).toMatchObject({ verify: 2, restore: 2, tables: [] })
      expect(result.stderr).toMatch(/nested deeper than 256 levels \(limit maxDepth = 256; raise it with the flag --max-depth, the environment variable MERGEBACK_MAX_DEPTH/)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
    }
  })

  it('a value just inside the limit restores', async () => {
    const file = path.join(temp.dir, 'deep-ok.json')
    writeCraftedFile(file, 'sqlite', [keyedTable([`{"id":1,"a":${nested(250)}}`])])
    const result = await verifyAndRestore(file)
    expect(result).toMatchObject({ verify: 0, restore: 0, tables: ['t'] })
  })

  it('the depth limit can be lowered and raised with MERGEBACK_MAX_DEPTH', async () => {
    const file = path.join(temp.dir, 'deep-env.json')
    writeCraftedFile(file, 'sqlite', [keyedTable([`{"id":1,"a":${nested(20)}}`])])
    expect((await verifyAndRestore(file, { MERGEBACK_MAX_DEPTH: '16' })).verify).toBe(2)
    expect((await verifyAndRestore(file, { MERGEBACK_MAX_DEPTH: '32' })).verify).toBe(0)
    const bad = await runCli(['verify', file], { env: { MERGEBACK_MAX_DEPTH: 'lots' } })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/MERGEBACK_MAX_DEPTH \(maxDepth\) must be a positive whole number/)
  })

  it('a record longer than MERGEBACK_MAX_RECORD_BYTES is refused while it is read', async () => {
    const file = path.join(temp.dir, 'long.json')
    writeCraftedFile(file, 'sqlite', [keyedTable([`{"id":1,"a":"${'x'.repeat(20 * 1024 * 1024)}"}`], 'text')])
    const result = await verifyAndRestore(file, { MERGEBACK_MAX_RECORD_BYTES: String(10 * 1024 * 1024) })
    expect(result).toMatchObject({ verify: 2, restore: 2, tables: [] })
    expect(result.stderr).toMatch(/longer than 10485760 bytes \(limit maxRecordBytes = 10485760; raise it with the flag --max-record-bytes, the environment variable MERGEBACK_MAX_RECORD_BYTES/)
  })

  it('too many columns or tables are refused', async () => {
    const file = path.join(temp.dir, 'wide.json')
    writeCraftedFile(file, 'sqlite', [keyedTable(['{"id":1,"a":"x"}'], 'text')])
    const columns = await verifyAndRestore(file, { MERGEBACK_MAX_COLUMNS: '1' })
    expect(columns).toMatchObject({ verify: 2, restore: 2, tables: [] })
    expect(columns.stderr).toMatch(/has 2 columns, more than 1 \(limit maxColumns/)
    const tables = await verifyAndRestore(file, { MERGEBACK_MAX_TABLES: '1' })
    expect(tables.verify).toBe(0)
  })

  it('every reading command takes the limits as flags too; a flag wins over the variable', async () => {
    const file = path.join(temp.dir, 'deep-flags.json')
    writeCraftedFile(file, 'sqlite', [keyedTable([`{"id":1,"a":${nested(20)}}`])])
    const db = `sqlite:${path.join(temp.dir, 'flags.db')}`
    const commands = [['verify', file], ['inspect', file], ['restore', file, '--db', db], ['analyze', file, '--db', db], ['merge', file, '--db', db, '--yes'], ['reseal', file, '--out', path.join(temp.dir, 'never.json')]]
    for (const command of commands) {
      const refused = await runCli([...command, '--max-depth', '16'])
      expect(refused.code, command.join(' ')).toBe(2)
      // verify prints its report (on stdout); the others one error line on stderr.
      const text = command[0] === 'verify' ? refused.stdout : refused.stderr
      expect(text).toMatch(/nested deeper than 16 levels \(limit maxDepth = 16; raise it with the flag --max-depth, the environment variable MERGEBACK_MAX_DEPTH/)
      if (command[0] !== 'verify') expect(refused.stderr.trim().split('\n')).toHaveLength(1)
    }
    expect((await runCli(['verify', file, '--max-depth', '32'], { env: { MERGEBACK_MAX_DEPTH: '16' } })).code).toBe(0)
    expect((await runCli(['verify', file, '--max-depth', '16'], { env: { MERGEBACK_MAX_DEPTH: '32' } })).code).toBe(2)
    for (const [flag, value] of [['--max-depth', '0'], ['--max-tables', 'many'], ['--max-record-bytes', '-5'], ['--max-columns', '1.5']] as const) {
      const bad = await runCli(['verify', file, flag, value])
      expect(bad.code, flag).toBe(2)
      expect(bad.stderr).toMatch(new RegExp(`${flag} must be a positive whole number`))
    }
  })

  it('--max-record-bytes, --max-columns, --max-tables and --max-decompressed-bytes name themselves', async () => {
    const file = path.join(temp.dir, 'flags-all.json')
    writeCraftedFile(file, 'sqlite', [keyedTable([`{"id":1,"a":"${'x'.repeat(2000)}"}`], 'text')])
    const cases = [
      ['--max-record-bytes', '1KiB', /longer than 1024 bytes \(limit maxRecordBytes = 1024; raise it with the flag --max-record-bytes, the environment variable MERGEBACK_MAX_RECORD_BYTES/],
      ['--max-columns', '1', /has 2 columns, more than 1 \(limit maxColumns = 1; raise it with the flag --max-columns, the environment variable MERGEBACK_MAX_COLUMNS/],
      ['--max-decompressed-bytes', '500', /decompresses to more than 500 bytes.*--max-decompressed-bytes.*MERGEBACK_MAX_DECOMPRESSED_BYTES/],
    ] as const
    for (const [flag, value, message] of cases) {
      const result = await runCli(['restore', file, '--db', `sqlite:${path.join(temp.dir, 'flags-all.db')}`, flag, value])
      expect(result.code, flag).toBe(2)
      expect(result.stderr).toMatch(message)
      const verified = await runCli(['verify', file, flag, value])
      expect(verified.code, flag).toBe(2)
    }
    const two = path.join(temp.dir, 'two-tables.json')
    writeCraftedFile(two, 'sqlite', [keyedTable(['{"id":1,"a":"x"}'], 'text'), { ...keyedTable(['{"id":1,"a":"x"}'], 'text'), header: { ...keyedTable([]).header, tableName: 'u' } }])
    const tables = await runCli(['verify', two, '--max-tables', '1', '--json'])
    expect(tables.code).toBe(2)
    expect(tables.stdout).toMatch(/more than 1 tables \(limit maxTables = 1; raise it with the flag --max-tables/)
  })

  it('a gzip bomb stops at the decompressed-size limit while it is read', async () => {
    const zlib = await import('node:zlib')
    const fs = await import('node:fs')
    const file = path.join(temp.dir, 'bomb.json.gz')
    // 64 MiB of spaces inside the records array: 64 KiB compressed.
    const body = Buffer.concat([Buffer.from('{"tables":[{"tableName":"t","columns":[{"name":"id","type":"INTEGER","kind":"integer"}],"primaryKey":"id","records":['), Buffer.alloc(64 * 1024 * 1024, 0x20), Buffer.from(']}],"metadata":{}}')])
    fs.writeFileSync(file, zlib.gzipSync(body, { level: 9 }))
    const result = await runCli(['verify', file, '--max-decompressed-bytes', '1MiB'])
    expect(result.code).toBe(2)
    expect(result.stdout + result.stderr).toMatch(/decompresses to more than 1048576 bytes/)
  })

  it('the records of a table must number what the metadata counts', async () => {
    const file = path.join(temp.dir, 'count.json')
    writeCraftedFile(file, 'sqlite', [keyedTable(['{"id":1,"a":"x"}', '{"id":2,"a":"y"}'], 'text')])
    const fs = await import('node:fs')
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"recordCounts":{"t":2}', '"recordCounts":{"t":3}'))
    const result = await verifyAndRestore(file)
    expect(result).toMatchObject({ verify: 2, restore: 2, tables: [] })
    expect(result.stderr).toMatch(/table "t" holds 2 records but the metadata counts 3/)
  })
})
