/**
 * Short-lived download tokens (docs/api.md §Download tokens): a browser link cannot carry an
 * Authorization header, so an authenticated client asks for a token valid for ~60 s, for one
 * file, and puts it in the link's query. Kept in memory only: a restart invalidates them.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { Actor } from './tokens.js'

export const DOWNLOAD_TOKEN_TTL_MS = 60_000

interface Grant {
  readonly file: string
  readonly actor: Actor
  readonly expiresAt: number
}

export class DownloadTokens {
  readonly #grants = new Map<string, Grant>()
  readonly #ttlMs: number

  constructor(ttlMs = DOWNLOAD_TOKEN_TTL_MS) {
    this.#ttlMs = ttlMs
  }

  /** Issues a token for `file` (a file name in the backup directory) on behalf of `actor`. */
  issue(file: string, actor: Actor, now = Date.now()): { token: string; expiresAt: Date } {
    this.#sweep(now)
    const token = `dlt_${randomBytes(24).toString('base64url')}`
    const expiresAt = now + this.#ttlMs
    this.#grants.set(token, { file, actor, expiresAt })
    return { token, expiresAt: new Date(expiresAt) }
  }

  /** The actor behind `token` if it is valid now and was issued for `file`; undefined otherwise. */
  check(token: string, file: string, now = Date.now()): Actor | undefined {
    this.#sweep(now)
    const grant = this.#grants.get(token)
    if (!grant || grant.expiresAt < now) return undefined
    const a = Buffer.from(grant.file)
    const b = Buffer.from(file)
    return a.length === b.length && timingSafeEqual(a, b) ? grant.actor : undefined
  }

  #sweep(now: number): void {
    for (const [token, grant] of this.#grants) if (grant.expiresAt < now) this.#grants.delete(token)
  }
}
