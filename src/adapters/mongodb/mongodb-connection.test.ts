import { describe, expect, it } from 'vitest'
import { Int32, MongoBulkWriteError, MongoNetworkError, MongoServerError, MongoServerSelectionError } from 'mongodb'
import { parseDatabaseUrl } from '../registry.js'
import { ConnectionError, DatabaseError, FormatError, InternalError, UsageError } from '../../errors.js'
import { errorCode, mapMongoError, scrub } from './mongodb-connection.js'

const config = parseDatabaseUrl('mongodb://crm_admin:p%40ss-w0rd@db.example.net:27017/crm?authSource=admin')

function serverError(code: number, message: string, labels: string[] = []): MongoServerError {
  const error = new MongoServerError({ message, code, errmsg: message })
  for (const label of labels) error.addErrorLabel(label)
  return error
}

describe('scrub', () => {
  it('removes the URL and its password, raw and percent-decoded, from driver messages', () => {
    const message = `failed for ${config.url}: auth p%40ss-w0rd / p@ss-w0rd rejected`
    const scrubbed = scrub(message, config)
    expect(scrubbed).not.toContain('w0rd')
    expect(scrubbed).toContain('mongodb://crm_admin:***@db.example.net:27017/crm')
  })

  it('leaves messages alone when the URL has no password', () => {
    const plain = parseDatabaseUrl('mongodb://db.example.net/crm')
    expect(scrub('nothing secret here', plain)).toBe('nothing secret here')
  })
})

describe('errorCode', () => {
  it('reads a code decoded with promoteValues: false (an Int32 object) as the number it is', () => {
    // What the driver builds from a server reply read through an exact (promoteValues: false) handle.
    const exact = new MongoServerError({ message: 'E11000 duplicate key error', code: new Int32(11000) as unknown as number })
    expect(exact.code).not.toBe(11000)
    expect(errorCode(exact)).toBe(11000)
    expect(errorCode({ code: 26 })).toBe(26)
    expect(errorCode({ index: 0, code: new Int32(121) })).toBe(121)
  })

  it('is undefined for errors without a numeric code', () => {
    expect(errorCode(new Error('no code'))).toBeUndefined()
    expect(errorCode({ code: 'EPERM' })).toBeUndefined()
    expect(errorCode(undefined)).toBeUndefined()
    expect(errorCode(null)).toBeUndefined()
  })

  it('gives mapMongoError the number: an Int32 18 is refused credentials, an Int32 121 a DatabaseError with engineCode "121"', () => {
    const context = { action: 'inserting documents', table: 'people' }
    const auth = mapMongoError(new MongoServerError({ message: 'auth failed', code: new Int32(18) as unknown as number }), config, context)
    expect(auth).toBeInstanceOf(ConnectionError)
    const refused = mapMongoError(new MongoServerError({ message: 'Document failed validation', code: new Int32(121) as unknown as number }), config, context)
    expect(refused).toBeInstanceOf(DatabaseError)
    expect((refused as DatabaseError).engineCode).toBe('121')
    expect(refused.message).toContain("fails the collection's validator")
  })
})

describe('mapMongoError', () => {
  const context = { action: 'inserting documents', table: 'people', key: { $oid: '652f1b2c3d4e5f6a7b8c9d0e' } }

  it('keeps mergeback errors as they are', () => {
    const usage = new UsageError('bad')
    expect(mapMongoError(usage, config, context)).toBe(usage)
  })

  it('makes network failures retryable ConnectionErrors naming the redacted URL', () => {
    const network = mapMongoError(new MongoNetworkError('connection 3 to db.example.net:27017 closed'), config, context)
    expect(network).toBeInstanceOf(ConnectionError)
    expect((network as ConnectionError).retryable).toBe(true)
    expect(network.message).toBe(
      'Lost the connection to MongoDB at mongodb://crm_admin:***@db.example.net:27017/crm?authSource=admin while inserting documents people (_id ObjectId("652f1b2c3d4e5f6a7b8c9d0e")): connection 3 to db.example.net:27017 closed',
    )
    const selection = mapMongoError(new MongoServerSelectionError('Server selection timed out after 5000 ms', { error: undefined, servers: new Map() } as never), config, { action: 'reading' })
    expect(selection).toBeInstanceOf(ConnectionError)
  })

  it('makes refused credentials a ConnectionError that is not retryable', () => {
    const auth = mapMongoError(serverError(18, 'Authentication failed.'), config, context)
    expect(auth).toBeInstanceOf(ConnectionError)
    expect((auth as ConnectionError).retryable).toBe(false)
  })

  it.each([
    [13, [], /lacks the privileges/],
    [121, [], /fails the collection's validator/],
    [112, [], /another client changed the same documents/],
    [239, [], /minSnapshotHistoryWindowInSeconds/],
    [290, [], /transactionLifetimeLimitSeconds.*MERGEBACK_MONGODB_WRITE_MODE=journal/],
    [10334, [], /too large for the server's cache/],
    [251, ['TransientTransactionError'], /transactionLifetimeLimitSeconds/],
    [24, ['TransientTransactionError'], /transient transaction error; nothing was changed/],
  ])('makes server error %i a DatabaseError with the code, table, key and a hint', (code, labels, hint) => {
    const mapped = mapMongoError(serverError(code, `server said no (${code})`, labels), config, context)
    expect(mapped).toBeInstanceOf(DatabaseError)
    const error = mapped as DatabaseError
    expect(error.engineCode).toBe(String(code))
    expect(error.table).toBe('people')
    expect(error.key).toEqual(context.key)
    expect(error.message).toMatch(/^MongoDB refused inserting documents people \(_id ObjectId\("652f1b2c3d4e5f6a7b8c9d0e"\)\): server said no/)
    expect(error.message).toMatch(hint)
  })

  it('maps a bulk write error by its server code', () => {
    const bulk = new MongoBulkWriteError({ message: 'E11000 duplicate key error collection: crm.people index: email_1 dup key', code: 11000 }, {} as never)
    const mapped = mapMongoError(bulk, config, context)
    expect(mapped).toBeInstanceOf(DatabaseError)
    expect((mapped as DatabaseError).engineCode).toBe('11000')
    expect(mapped.message).toContain('index: email_1')
  })

  it('maps a bulk write cut off by the connection (no per-document errors) to a ConnectionError', () => {
    // What the driver throws when the server closes the connection during insertMany (FerretDB does on a Decimal128).
    const bulk = new MongoBulkWriteError(new MongoNetworkError('connection 1 to 127.0.0.1:27017 closed'), {} as never)
    expect([bulk.writeErrors].flat()).toEqual([])
    const mapped = mapMongoError(bulk, config, context)
    expect(mapped).toBeInstanceOf(ConnectionError)
    expect(mapped.message).toContain('Lost the connection to MongoDB')
    expect((mapped as ConnectionError).retryable).toBe(true)
  })

  it('turns BSON conversion failures into FormatErrors and anything else into InternalErrors', () => {
    const bson = Object.assign(new Error('invalid UTF-8'), { name: 'BSONError' })
    expect(mapMongoError(bson, config, context)).toBeInstanceOf(FormatError)
    expect(mapMongoError(new TypeError('x is undefined'), config, context)).toBeInstanceOf(InternalError)
  })
})
