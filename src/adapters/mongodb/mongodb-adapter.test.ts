/**
 * The adapter's behaviour that needs no MongoDB server: connection failures (a closed port on
 * this machine answers at once with "connection refused"; the driver retries until its server
 * selection timeout, which the adapter sets from `connectTimeoutMs`), bad URLs, the write mode
 * setting. Everything else about the adapter needs a server: test/integration/adapters/mongodb.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { parseDatabaseUrl } from '../registry.js'
import { ConnectionError, UsageError } from '../../errors.js'
import { createMongodbAdapter, mongodbAdapter, writeModeFromEnv } from './mongodb-adapter.js'

const UNREACHABLE = 'mongodb://crm_admin:s3cr%23tPass@127.0.0.1:1/crm_database?authSource=admin'

describe('connecting to an unreachable server', () => {
  it('openSource fails with a ConnectionError naming the redacted URL, never the password', { timeout: 20_000 }, async () => {
    const config = parseDatabaseUrl(UNREACHABLE, { connectTimeoutMs: 1500 })
    const error = await mongodbAdapter.openSource(config).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectionError)
    const message = (error as ConnectionError).message
    expect(message).toContain('mongodb://crm_admin:***@127.0.0.1:1/crm_database')
    expect(message).toMatch(/Cannot reach MongoDB .* within 1500 ms/)
    expect(message).toMatch(/Check that the server is running/)
    expect(message).not.toContain('s3cr')
    expect((error as ConnectionError).retryable).toBe(true)
  })

  it('openDestination fails the same way, with nothing written', { timeout: 20_000 }, async () => {
    const config = parseDatabaseUrl(UNREACHABLE, { connectTimeoutMs: 1500 })
    const adapter = createMongodbAdapter({ writeMode: 'journal' })
    await expect(adapter.openDestination(config)).rejects.toBeInstanceOf(ConnectionError)
  })

  it('lets a serverSelectionTimeoutMS in the URL win', { timeout: 20_000 }, async () => {
    const config = parseDatabaseUrl('mongodb://127.0.0.1:1/crm?serverSelectionTimeoutMS=700', { connectTimeoutMs: 9000 })
    const error = await mongodbAdapter.openSource(config).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectionError)
    expect((error as Error).message).toMatch(/within 700 ms/)
  })

  it('uses the default five-second timeout when none is given', { timeout: 30_000 }, async () => {
    const config = parseDatabaseUrl('mongodb://127.0.0.1:1/crm')
    const error = await mongodbAdapter.openSource(config).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConnectionError)
    expect((error as Error).message).toMatch(/within 5000 ms/)
  })
})

describe('bad configuration', () => {
  it('refuses malformed URL options with a UsageError', async () => {
    const config = parseDatabaseUrl('mongodb://127.0.0.1:1/crm?tls=perhaps')
    const error = await mongodbAdapter.openSource(config).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UsageError)
    expect((error as UsageError).code).toBe('BAD_URL')
  })

  it('refuses a URL of another engine', async () => {
    const config = parseDatabaseUrl('postgres://u:p@127.0.0.1:1/crm')
    await expect(mongodbAdapter.openSource(config)).rejects.toThrow(/given a postgres URL/)
  })

  it('reads the write mode from MERGEBACK_MONGODB_WRITE_MODE', () => {
    expect(writeModeFromEnv({})).toBe('auto')
    expect(writeModeFromEnv({ MERGEBACK_MONGODB_WRITE_MODE: 'Journal' })).toBe('journal')
    expect(writeModeFromEnv({ MERGEBACK_MONGODB_WRITE_MODE: 'transaction' })).toBe('transaction')
    expect(() => writeModeFromEnv({ MERGEBACK_MONGODB_WRITE_MODE: 'yolo' })).toThrow(UsageError)
  })

  it('promises only what every server can do at the adapter level', () => {
    expect(mongodbAdapter.engine).toBe('mongodb')
    expect(mongodbAdapter.capabilities).toEqual({ consistentSnapshot: false, transactionalWrite: false, transactionalDdl: false, bulkLoad: 'insert-many' })
  })
})
