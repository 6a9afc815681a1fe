/**
 * mergeback's library API. `test/integration/exports.test.ts` pins this list.
 */
export * from './errors.js'
export type * from './adapters/adapter.js'
export { parseDatabaseUrl, redactUrl, loadAdapter } from './adapters/registry.js'
