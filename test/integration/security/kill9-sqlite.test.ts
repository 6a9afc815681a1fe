/**
 * kill -9 during restores and merges into SQLite (issue #13 finding 2): see kill9-harness.ts.
 * SQLite's DDL is transactional: a killed write leaves a hot rollback journal, which the next
 * connection to open the file plays back (the snapshot here is such a connection). These tests
 * prove it rather than assume it.
 */
import Database from 'better-sqlite3'
import { makeSqlitePath } from '../../helpers/databases.js'
import { describeKill9, type Kill9Rig } from './kill9-harness.js'

const fileOf = (url: string): string => url.replace(/^sqlite:/, '')

const rig: Kill9Rig = {
  engine: 'sqlite',
  async create() {
    const db = makeSqlitePath()
    // An empty database file, as a restore target "before" anything is in it.
    new Database(db.file).close()
    return { url: db.url, drop: async () => db.cleanup() }
  },
  async exec(url, statements) {
    const db = new Database(fileOf(url))
    try {
      for (const sql of statements) db.exec(sql)
    } finally {
      db.close()
    }
  },
  async snapshot(url) {
    const db = new Database(fileOf(url))
    try {
      const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").all() as { name: string }[]).map((t) => t.name)
      const rows: Record<string, string[]> = {}
      for (const name of names) {
        rows[name] = (db.prepare(`SELECT * FROM "${name.replace(/"/g, '""')}"`).raw().all() as unknown[][]).map((r) => JSON.stringify(r)).sort()
      }
      return { tables: names, rows }
    } finally {
      db.close()
    }
  },
}

describeKill9('SQLite', rig)
