/**
 * copyFromStdin's `written`: a chunk it reports may be written into again at once (the staged
 * restore's ChunkPool), so it must report a chunk only once the socket has let go of it.
 * Here every reported chunk is overwritten with other rows the moment it is reported, and the
 * table must still hold exactly the rows sent.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { ChunkPool, releaseChunk } from '../../../src/engine/buffer-reclaim.js'
import { copyFromStdin, openSession } from '../../../src/adapters/postgres/postgres-connection.js'
import { parseDatabaseUrl } from '../../../src/adapters/registry.js'
import { createPostgresDatabase, databasesOfFile } from '../../helpers/databases.js'

const databases = databasesOfFile(() => createPostgresDatabase('mbcopyw'))
afterAll(() => databases.dropAll())

/** Fills `buffer` with whole COPY lines `id\ttext` from id `first` on; returns [bytes, rows]. */
function fill(buffer: Buffer, first: number, bytes: number): [number, number] {
  let at = 0
  let id = first
  for (;;) {
    const line = `${id}\t${'v'.repeat(40 + (id % 200))}${id}\n`
    if (at + line.length > bytes) return [at, id - first]
    at += buffer.write(line, at, 'latin1')
    id++
  }
}

describe('copyFromStdin reports a chunk written only once the socket is done with it', () => {
  it('loads every row sent while each reported chunk is overwritten at once', async () => {
    const db = await databases.fresh()
    const client = await openSession(parseDatabaseUrl(db.url))
    try {
      await client.query('CREATE TABLE t (id integer PRIMARY KEY, v text NOT NULL)')
      const buffers = new ChunkPool(1 << 20)
      let sent = 0
      let reported = 0
      async function* chunks(): AsyncGenerator<Buffer> {
        for (let i = 0; i < 40; i++) {
          const buffer = buffers.take(1 << 20)
          const [bytes, rows] = fill(buffer, sent + 1, i % 5 === 4 ? 4000 : buffer.length)
          sent += rows
          yield buffer.subarray(0, bytes)
        }
      }
      const inserted = await copyFromStdin(client, 't', ['id', 'v'], chunks(), { action: 'test' }, (chunk) => {
        reported++
        // Lines the table must not get (no tab: COPY refuses them), the newlines where they were.
        chunk.fill(0x39)
        for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, at + 1)) chunk[at] = 0x0a
        releaseChunk(chunk)
      })
      expect(inserted).toBe(sent)
      const [row] = (await client.query('SELECT count(*)::int AS n, min(id) AS lo, max(id) AS hi, bool_and(v = repeat(\'v\', 40 + id % 200) || id) AS same FROM t')).rows as { n: number; lo: number; hi: number; same: boolean }[]
      expect(row).toEqual({ n: sent, lo: 1, hi: sent, same: true })
      // The test means something only if most chunks were reported (and so overwritten).
      expect(reported).toBeGreaterThan(20)
    } finally {
      await client.end()
    }
  })
})
