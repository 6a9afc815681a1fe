/**
 * Issue #14 item 8 (PostgreSQL, row-level security): a backup user whose policies hide rows got a
 * partial backup without a word. It is now warned (in the result and the file's metadata), naming
 * the table and how to get every row; the owner or a superuser gets no warning and every row.
 * A real non-superuser role with a policy, not a mock.
 */
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { backup } from '../../../src/engine/backup.js'
import { createPostgresDatabase, makeTempDir, pgQuery } from '../../helpers/databases.js'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!()
})

describe('#14: PostgreSQL row-level security', () => {
  it('a backup user that cannot see every row is warned; the owner is not', async () => {
    const db = await createPostgresDatabase('mb14rls')
    const role = `mb14_rls_${randomBytes(4).toString('hex')}`
    await pgQuery(db.url, `CREATE ROLE ${role} LOGIN`)
    cleanups.push(async () => {
      await db.drop()
      await pgQuery(db.url.replace(/\/[^/]*$/, '/postgres'), `DROP ROLE IF EXISTS ${role}`)
    })
    await pgQuery(
      db.url,
      `CREATE TABLE secret (id integer PRIMARY KEY, owner text NOT NULL, body text);
       CREATE TABLE open_t (id integer PRIMARY KEY);
       INSERT INTO secret VALUES (1, '${role}', 'mine'), (2, 'someone', 'theirs'), (3, 'someone', 'theirs too');
       INSERT INTO open_t VALUES (1);
       ALTER TABLE secret ENABLE ROW LEVEL SECURITY;
       CREATE POLICY own_rows ON secret USING (owner = current_user);
       GRANT SELECT ON secret, open_t TO ${role};`,
    )
    const tmp = makeTempDir('mb14-rls-')
    cleanups.push(tmp.cleanup)

    const url = new URL(db.url)
    url.username = role
    url.password = ''
    const limited = await backup({ db: url.toString(), out: path.join(tmp.dir, 'limited.json') })
    expect(limited.warnings.join('\n')).toMatch(/Row-level security applies to "secret" for this database user: its policies may hide rows/)
    expect(limited.warnings.join('\n')).not.toMatch(/"open_t"/)
    expect(limited.metadata.recordCounts).toMatchObject({ secret: 1, open_t: 1 })
    expect(limited.metadata.warnings?.join('\n')).toMatch(/Row-level security applies to "secret"/)

    const full = await backup({ db: db.url, out: path.join(tmp.dir, 'full.json') })
    expect(full.warnings.join('\n')).not.toMatch(/Row-level security/)
    expect(full.metadata.recordCounts).toMatchObject({ secret: 3, open_t: 1 })
  })
})
