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
      expect(result.stderr).toMatch(/nested deeper than 256 levels \(limit maxDepth; raise it with the environment variable MERGEBACK_MAX_DEPTH/)
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
    expect(result.stderr).toMatch(/longer than 10485760 bytes \(limit maxRecordBytes; raise it with the environment variable MERGEBACK_MAX_RECORD_BYTES/)
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
})
