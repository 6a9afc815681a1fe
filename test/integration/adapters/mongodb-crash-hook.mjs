/**
 * Preloaded into the CLI by mongodb-crash.test.ts (`node --import <this file> bin/mergeback.js …`):
 * makes the process SIGKILL itself — or SIGSTOP itself, to stay alive holding the journal's lock —
 * at one exact point of a restore or merge, without any test code in mergeback itself.
 *
 * MERGEBACK_TEST_CRASH_AT=<point>:<n>[:stop] — act right after the n-th (1-based) of:
 *   entry-<op>   the undo journal durably recorded a change of kind <op> (createCollection, empty,
 *                insert, update …): the change itself is not made yet
 *   commit       the journal's commit marker is written (nothing is cleaned up yet)
 *   rename       a collection was renamed away to its shadow (--drop), not yet recreated
 *   insertMany   documents were inserted into a user collection
 *   bulkWrite    documents were replaced in a user collection (merge updates)
 * The driver's Collection and Db methods are wrapped: they are the same module instance the CLI uses.
 */
import { Collection, Db } from 'mongodb'

const JOURNAL = '__mergeback_journal'
const [point, nth, action] = (process.env.MERGEBACK_TEST_CRASH_AT ?? '').split(':')
const target = Number(nth)
let seen = 0

function reached(name) {
  if (name !== point || ++seen !== target) return
  process.stderr.write(`crash hook: ${action === 'stop' ? 'stopping' : 'killing'} at ${point} #${target}\n`)
  process.kill(process.pid, action === 'stop' ? 'SIGSTOP' : 'SIGKILL')
}

function wrap(prototype, method, classify) {
  const original = prototype[method]
  prototype[method] = async function (...args) {
    const result = await original.apply(this, args)
    const name = classify(this, args)
    if (name) reached(name)
    return result
  }
}

if (point) {
  wrap(Collection.prototype, 'insertOne', (collection, [document]) => {
    if (collection.collectionName !== JOURNAL) return undefined
    if (typeof document._id === 'string' && document._id.endsWith(':commit')) return 'commit'
    return document.op ? `entry-${document.op}` : undefined
  })
  wrap(Collection.prototype, 'insertMany', (collection) => (collection.collectionName.startsWith('__mergeback_') ? undefined : 'insertMany'))
  wrap(Collection.prototype, 'bulkWrite', (collection) => (collection.collectionName.startsWith('__mergeback_') ? undefined : 'bulkWrite'))
  wrap(Db.prototype, 'renameCollection', (_db, [, to]) => (String(to).startsWith('__mergeback_') ? 'rename' : undefined))
}
