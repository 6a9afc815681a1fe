/**
 * Preloaded into the CLI by kill9-*.test.ts (`node --import <this file> bin/mergeback.js …`):
 * makes the process SIGKILL itself at one exact point of a restore or merge into PostgreSQL,
 * MariaDB or SQLite, without any test code in mergeback itself (as mongodb-crash-hook.mjs does
 * for MongoDB).
 *
 * The points are the SQL statements the CLI sends. The drivers' methods are wrapped (they are
 * the same module instances the CLI loads):
 *   mysql2          Connection.prototype.query (callback form; the promise API calls it)
 *   pg              Client.prototype.query (promise form; COPY streams are not counted)
 *   better-sqlite3  Database.prototype.exec, Statement.prototype.run
 *
 * MERGEBACK_TEST_CRASH_AT=sql:<n>      SIGKILL right after the n-th statement completed (its
 *                                      result arrived), before the CLI sees it
 * MERGEBACK_TEST_SQL_LOG=<file>        append "<ms since start>\t<statement, first 100 chars>"
 *                                      per completed statement (to choose the points)
 */
import fs from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const [point, nth] = (process.env.MERGEBACK_TEST_CRASH_AT ?? '').split(':')
const target = point === 'sql' ? Number(nth) : 0
const logFile = process.env.MERGEBACK_TEST_SQL_LOG
const started = Date.now()
let seen = 0

function completed(sql) {
  seen++
  if (logFile) fs.appendFileSync(logFile, `${Date.now() - started}\t${String(sql).replace(/\s+/g, ' ').slice(0, 100)}\n`)
  if (seen === target) {
    process.stderr.write(`crash hook: killing after statement #${seen}: ${String(sql).slice(0, 60)}\n`)
    process.kill(process.pid, 'SIGKILL')
  }
}

function textOf(query) {
  if (typeof query === 'string') return query
  if (query && typeof query.sql === 'string') return query.sql
  if (query && typeof query.text === 'string') return query.text
  return '<query>'
}

if (target > 0 || logFile) {
  // mysql2: the callback receives the result; the promise API passes one.
  const { Connection } = require('mysql2')
  const query = Connection.prototype.query
  Connection.prototype.query = function (...args) {
    const last = args.length - 1
    if (typeof args[last] === 'function') {
      const callback = args[last]
      const sql = textOf(args[0])
      args[last] = function (error, ...rest) {
        if (!error) completed(sql)
        return callback.call(this, error, ...rest)
      }
    }
    return query.apply(this, args)
  }

  // pg: promise form only.
  const pg = require('pg')
  const pgQuery = pg.Client.prototype.query
  pg.Client.prototype.query = function (...args) {
    const result = pgQuery.apply(this, args)
    if (result && typeof result.then === 'function') {
      const sql = textOf(args[0])
      result.then(() => completed(sql), () => undefined)
    }
    return result
  }

  // better-sqlite3: synchronous, so the kill lands before the CLI goes on.
  const Database = require('better-sqlite3')
  const exec = Database.prototype.exec
  Database.prototype.exec = function (sql) {
    const result = exec.call(this, sql)
    completed(sql)
    return result
  }
  const probe = new Database(':memory:')
  const Statement = Object.getPrototypeOf(probe.prepare('SELECT 1'))
  probe.close()
  const run = Statement.run
  Statement.run = function (...args) {
    const result = run.apply(this, args)
    completed(this.source)
    return result
  }
}
