import { describe, expect, it } from 'vitest'
import { ConnectionError, DatabaseError, UsageError } from '../../errors.js'
import { parseDatabaseUrl } from '../registry.js'
import { connectionOptions, rowNumberFromMessage, toConnectionError, toStatementError } from './mysql-config.js'

const driverError = (fields: Record<string, unknown>): Error => Object.assign(new Error(String(fields.sqlMessage ?? fields.code ?? 'x')), fields)

describe('connectionOptions', () => {
  it('reads host, port, user, password and database from mysql:// and mariadb:// URLs', () => {
    const options = connectionOptions(parseDatabaseUrl('mariadb://app:p%40ss@db.example:3307/shop'))
    expect(options).toMatchObject({ host: 'db.example', port: 3307, user: 'app', password: 'p@ss', database: 'shop' })
    expect(options).toMatchObject({ dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, jsonStrings: true, timezone: 'Z' })
    expect(options.flags).toEqual(['-FOUND_ROWS'])
    expect(connectionOptions(parseDatabaseUrl('mysql://root@[::1]/x'))).toMatchObject({ host: '::1', port: 3306, user: 'root', password: '' })
  })

  it('takes the connect timeout from the config', () => {
    expect(connectionOptions(parseDatabaseUrl('mysql://root@h/x', { connectTimeoutMs: 1234 })).connectTimeout).toBe(1234)
  })

  it('understands ssl and socket, and refuses unknown parameters without showing the password', () => {
    expect(connectionOptions(parseDatabaseUrl('mysql://u@h/x?ssl=true')).ssl).toEqual({ rejectUnauthorized: true })
    expect(connectionOptions(parseDatabaseUrl('mysql://u@h/x?ssl=skip-verify')).ssl).toEqual({ rejectUnauthorized: false })
    expect(connectionOptions(parseDatabaseUrl('mysql://u@h/x?socket=/run/mysqld.sock')).socketPath).toBe('/run/mysqld.sock')
    expect(connectionOptions(parseDatabaseUrl('mysql://u@h/x?local-infile=0')).flags).toEqual(['-FOUND_ROWS', '-LOCAL_FILES'])
    expect(connectionOptions(parseDatabaseUrl('mysql://u@h/x?local-infile=1')).flags).toEqual(['-FOUND_ROWS'])
    const bad = (): unknown => connectionOptions(parseDatabaseUrl('mysql://u:secret@h/x?sslmode=on'))
    expect(bad).toThrow(UsageError)
    expect(bad).toThrow(/unknown parameter "sslmode=on"/)
    expect(bad).not.toThrow(/secret/)
  })
})

describe('toConnectionError', () => {
  const config = parseDatabaseUrl('mysql://root:hunter2@127.0.0.1:3306/shop')

  it('tells wrong credentials, unknown databases and unreachable hosts apart', () => {
    const denied = toConnectionError(driverError({ errno: 1045, code: 'ER_ACCESS_DENIED_ERROR', sqlMessage: "Access denied for user 'root'" }), config)
    expect(denied).toBeInstanceOf(ConnectionError)
    expect(denied.retryable).toBe(false)
    expect(denied.message).toMatch(/refused the credentials/)
    const unknown = toConnectionError(driverError({ errno: 1049, code: 'ER_BAD_DB_ERROR' }), config)
    expect(unknown.message).toBe('Database "shop" does not exist on the MySQL server at mysql://root:***@127.0.0.1:3306/shop.')
    const refused = toConnectionError(driverError({ code: 'ECONNREFUSED' }), config)
    expect(refused.retryable).toBe(true)
    expect(refused.message).toMatch(/ECONNREFUSED/)
    const timeout = toConnectionError(driverError({ code: 'ETIMEDOUT' }), config)
    expect(timeout.message).toMatch(/no answer within 5000 ms/)
    for (const error of [denied, unknown, refused, timeout]) expect(error.message).not.toContain('hunter2')
  })
})

describe('toStatementError', () => {
  it('keeps errno, SQLSTATE and the constraint the server names', () => {
    const error = toStatementError(
      driverError({ errno: 4025, code: 'ER_CONSTRAINT_FAILED', sqlState: '23000', sqlMessage: 'CONSTRAINT `chk_price` failed for `shop`.`item`' }),
      { table: 'item', key: { id: 3 }, action: 'inserting into item' },
    )
    expect(error).toBeInstanceOf(DatabaseError)
    expect(error).toMatchObject({ engineCode: '4025', table: 'item', key: { id: 3 }, constraint: 'chk_price' })
    expect((error as DatabaseError).details.sqlState).toBe('23000')
    expect(error.message).toBe('Failed inserting into item (key {"id":3}): CONSTRAINT `chk_price` failed for `shop`.`item` [ER_CONSTRAINT_FAILED]')
  })

  it('reads the key name of a duplicate', () => {
    const error = toStatementError(driverError({ errno: 1062, code: 'ER_DUP_ENTRY', sqlMessage: "Duplicate entry 'a' for key 'uq_email'" }))
    expect((error as DatabaseError).constraint).toBe('uq_email')
  })

  it('turns a lost connection into a ConnectionError', () => {
    expect(toStatementError(driverError({ code: 'PROTOCOL_CONNECTION_LOST', fatal: true }))).toBeInstanceOf(ConnectionError)
  })

  it('finds the row a server message points at', () => {
    expect(rowNumberFromMessage(driverError({ errno: 1264, sqlMessage: "Out of range value for column 'n' at row 3" }))).toBe(3)
    expect(rowNumberFromMessage(new Error('x'))).toBeUndefined()
  })
})
