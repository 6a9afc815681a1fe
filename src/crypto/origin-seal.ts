/**
 * Trust of origin (DESIGN.md §7, docs/security.md): a backup this installation wrote carries a
 * seal, an HMAC-SHA-256 with a key kept in the installation's state directory, over its engine,
 * every table's schema and every table's checksum. Only a file whose seal verifies may use the
 * engine's own full definitions (MySQL's CREATE TABLE text, SQLite's table SQL and triggers,
 * PostgreSQL index definitions and expressions as they are); any other file — an upload, a copy
 * from another server, a hand-made file — gets the strict path of the schema guard.
 *
 * The key: 32 random bytes, hex, in `<state dir>/origin.key` (mode 0600), created by the first
 * backup. The state directory is `MERGEBACK_STATE_DIR`, else `$XDG_STATE_HOME/mergeback`, else
 * `~/.local/state/mergeback`. Whoever can read that key can make files this installation trusts:
 * it is as sensitive as the database password.
 *
 * The seal covers the schema (as a reader decodes it, in a canonical JSON form) and the record
 * checksums, so changing a definition, a type or a record of a sealed file breaks it. The sidecar
 * of a catalogued backup also carries `originSeal`, an HMAC of the file's SHA-256, which is what
 * `mergeback list` shows as "made here".
 *
 * @module
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { TableSchema } from '../adapters/adapter.js'
import { UsageError } from '../errors.js'

const KEY_FILE = 'origin.key'
const PREFIX = 'hmac-sha256:'

/** The installation's state directory (see the module header). */
export function stateDirectory(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MERGEBACK_STATE_DIR) return path.resolve(env.MERGEBACK_STATE_DIR)
  if (env.XDG_STATE_HOME) return path.join(path.resolve(env.XDG_STATE_HOME), 'mergeback')
  return path.join(os.homedir(), '.local', 'state', 'mergeback')
}

/**
 * The installation's origin key. With `create`, makes one when there is none (exclusive create,
 * so two processes agree on one key). Without, undefined when there is none. A key file that is
 * not 64 hex digits is a UsageError naming the file.
 */
export function originKey(options: { readonly create?: boolean; readonly env?: NodeJS.ProcessEnv } = {}): Buffer | undefined {
  const file = path.join(stateDirectory(options.env), KEY_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const text = fs.readFileSync(file, 'utf8').trim()
      if (!/^[0-9a-f]{64}$/.test(text)) throw new UsageError(`${file} is not an origin key (64 hex digits). Move it away to let mergeback make a new one.`)
      return Buffer.from(text, 'hex')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        if (error instanceof UsageError) throw error
        // An unreadable state directory: this process cannot seal or trust anything.
        return undefined
      }
      if (!options.create) return undefined
    }
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 })
      fs.writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { flag: 'wx', mode: 0o600 })
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'EEXIST') return undefined
    }
  }
  return undefined
}

/** A canonical JSON text: object keys sorted, undefined members left out. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

/** What a seal covers: the engine, and per table its schema's digest and its record checksum. */
export function sealMaterial(engine: string, tables: readonly { readonly schema: TableSchema; readonly checksum: string | undefined }[]): string {
  return canonicalJson({
    engine,
    tables: tables.map((t) => ({ name: t.schema.name, schema: createHash('sha256').update(canonicalJson(t.schema)).digest('hex'), checksum: t.checksum ?? null })),
  })
}

/** The seal of `material` with `key`. */
export function seal(key: Buffer, material: string): string {
  return PREFIX + createHmac('sha256', key).update(material).digest('hex')
}

/** Whether `value` is the seal of `material` with `key` (constant-time comparison). */
export function verifySeal(key: Buffer, material: string, value: unknown): boolean {
  if (typeof value !== 'string' || !value.startsWith(PREFIX)) return false
  const expected = Buffer.from(seal(key, material))
  const given = Buffer.from(value)
  return expected.length === given.length && timingSafeEqual(expected, given)
}

/** The sidecar's seal of a stored file: an HMAC of its SHA-256 (what the catalog shows as "made here"). */
export function fileSeal(key: Buffer, sha256: string): string {
  return seal(key, `file:${sha256}`)
}
