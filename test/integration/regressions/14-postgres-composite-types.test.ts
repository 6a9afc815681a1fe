/**
 * Issue #14 item 8 finding: PostgreSQL composite types were not recreated in an empty database
 * (the restore failed loudly on the unknown type); user range types neither, nor the extensions
 * owning column types. Now carried in `options.types` / `options.extensions` and created first.
 * Here: a file made elsewhere (its SQL parsed and re-emitted by the schema guard) restores into
 * an empty database exactly, and a crafted type in `options.types` is refused before anything runs.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { restore } from '../../../src/engine/restore.js'
import { guardSchema } from '../../../src/engine/schema-guard.js'
import type { TableSchema } from '../../../src/adapters/adapter.js'
import { createPostgresDatabase, makeTempDir, pgQuery } from '../../helpers/databases.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

const SQL = `
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE "Size" AS ENUM ('s', 'm');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TYPE span AS RANGE (subtype = float8);
CREATE TYPE "Point 3" AS ("x y" float8, label citext, size "Size", n positive);
CREATE TYPE path_t AS (points "Point 3"[], extent span);
CREATE TABLE shape (id integer PRIMARY KEY, path path_t, at "Point 3", spans span[]);
INSERT INTO shape VALUES
  (1, ROW(ARRAY[ROW(1.5, 'A', 's', 3)::"Point 3", ROW(-2, NULL, NULL, NULL)::"Point 3"], '[0,1)'), ROW(0, 'b"c', 'm', 1), ARRAY['[1,2]'::span, 'empty']),
  (2, NULL, NULL, NULL);`

async function rows(url: string): Promise<string[]> {
  return (await pgQuery<{ r: string }>(url, `SELECT t::text AS r FROM shape t ORDER BY id`)).map((row) => row.r)
}

describe('#14: PostgreSQL composite and range types in an empty database', () => {
  it('a file made elsewhere restores them exactly (names and types re-emitted by the guard)', async () => {
    const source = await createPostgresDatabase('mb14comp')
    cleanups.push(() => source.drop())
    await pgQuery(source.url, SQL)
    const tmp = makeTempDir('mb14-comp-')
    cleanups.push(tmp.cleanup)
    const made = await backup({ db: source.url, out: path.join(tmp.dir, 'shape.json') })

    const savedState = process.env.MERGEBACK_STATE_DIR
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'mb14-comp-state-'))
    cleanups.push(() => {
      if (savedState === undefined) delete process.env.MERGEBACK_STATE_DIR
      else process.env.MERGEBACK_STATE_DIR = savedState
      fs.rmSync(elsewhere, { recursive: true, force: true })
    })
    process.env.MERGEBACK_STATE_DIR = elsewhere
    const empty = await createPostgresDatabase('mb14comp')
    cleanups.push(() => empty.drop())
    await pgQuery(empty.url, 'DROP EXTENSION IF EXISTS citext')
    await restore({ file: made.file, db: empty.url })
    expect(await rows(empty.url)).toEqual(await rows(source.url))
    expect(await pgQuery(empty.url, `SELECT typname, typtype FROM pg_type WHERE typname IN ('Size', 'positive', 'span', 'Point 3', 'path_t') ORDER BY 1`)).toEqual([
      { typname: 'Point 3', typtype: 'c' },
      { typname: 'Size', typtype: 'e' },
      { typname: 'path_t', typtype: 'c' },
      { typname: 'positive', typtype: 'd' },
      { typname: 'span', typtype: 'r' },
    ])
  })

  it('a crafted type in options.types is refused, not run', () => {
    const table = (types: unknown[]): TableSchema => ({
      name: 't',
      columns: [{ name: 'id', type: 'integer', kind: 'integer', nullable: false, default: null }],
      primaryKey: ['id'],
      uniqueConstraints: [],
      indexes: [],
      foreignKeys: [],
      options: { types },
    })
    expect(() => guardSchema([table([{ kind: 'composite', name: 'c', attributes: [{ name: 'a', type: 'text); DROP TABLE t; --' }] }])], 'postgres')).toThrow(/not a postgres column type/)
    expect(() => guardSchema([table([{ kind: 'range', name: 'r; DROP TABLE t', subtype: 'float8' }])], 'postgres')).toThrow(/not a name/)
    expect(() => guardSchema([table([{ kind: 'function', name: 'f' }])], 'postgres')).toThrow(/unknown kind/)
    const safe = guardSchema([table([{ kind: 'composite', name: '"Point 3"', attributes: [{ name: 'x"y', type: 'numeric(8, 2)[]' }] }])], 'postgres')
    expect(safe.tables[0]!.options!.types).toEqual([{ kind: 'composite', name: '"Point 3"', attributes: [{ name: 'x"y', type: expect.stringMatching(/^numeric\(8, ?2\)\[\]$/) }] }])
  })

  it('a file made elsewhere installs only extensions that provide column types; one sealed here keeps its list', () => {
    const table: TableSchema = {
      name: 't',
      columns: [{ name: 'id', type: 'integer', kind: 'integer', nullable: false, default: null }],
      primaryKey: ['id'],
      uniqueConstraints: [],
      indexes: [],
      foreignKeys: [],
      options: { extensions: ['citext', 'dblink', 'file_fdw', 'plpython3u', 'hstore', 'x; DROP TABLE t'] },
    }
    expect(guardSchema([table], 'postgres').tables[0]!.options!.extensions).toEqual(['citext', 'hstore'])
    expect(guardSchema([table], 'postgres', { trusted: true }).tables[0]!.options!.extensions).toEqual(['citext', 'dblink', 'file_fdw', 'plpython3u', 'hstore'])
  })
})
