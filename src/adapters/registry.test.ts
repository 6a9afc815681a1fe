import { describe, expect, it } from 'vitest'
import { parseDatabaseUrl, redactUrl } from './registry.js'
import { UsageError } from '../errors.js'

describe('parseDatabaseUrl', () => {
  it.each([
    ['postgres://u:p@h:5432/app', 'postgres', 'app'],
    ['postgresql://h/app?schema=crm', 'postgres', 'app'],
    ['mysql://root@127.0.0.1:3306/shop', 'mysql', 'shop'],
    ['mariadb://root@127.0.0.1/shop', 'mysql', 'shop'],
    ['mongodb://h:27017/crm', 'mongodb', 'crm'],
    ['mongodb+srv://u:p@cluster.example.net/crm?retryWrites=true', 'mongodb', 'crm'],
    ['sqlite:data/app.db', 'sqlite', 'app.db'],
    ['file:app.sqlite', 'sqlite', 'app.sqlite'],
    ['./local.sqlite3', 'sqlite', 'local.sqlite3'],
  ])('%s → %s', (url, engine, database) => {
    const config = parseDatabaseUrl(url)
    expect(config.engine).toBe(engine)
    expect(config.database).toBe(database)
  })

  it('keeps the schema for PostgreSQL: option first, then ?schema=, then public', () => {
    expect(parseDatabaseUrl('postgres://h/app').schema).toBe('public')
    expect(parseDatabaseUrl('postgres://h/app?schema=crm').schema).toBe('crm')
    expect(parseDatabaseUrl('postgres://h/app?schema=crm', { schema: 'x' }).schema).toBe('x')
  })

  it.each(['oracle://h/db', 'http://h/db', 'postgres://h/', 'sqlite:', 'just-a-name', ''])('rejects %j with a UsageError', (url) => {
    expect(() => parseDatabaseUrl(url)).toThrow(UsageError)
  })

  it('never puts the password in the redacted form or in errors', () => {
    expect(redactUrl('postgres://admin:s3cret@h:5432/app')).toBe('postgres://admin:***@h:5432/app')
    expect(parseDatabaseUrl('mysql://root:hunter2@h/db').redacted).not.toContain('hunter2')
    try {
      parseDatabaseUrl('oracle://root:hunter2@h/db')
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2')
    }
  })
})
