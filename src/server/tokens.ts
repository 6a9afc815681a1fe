/**
 * API tokens (DESIGN.md §7, docs/api.md §Authentication and roles).
 *
 * A token is `mbk_` + 32 random bytes in base64url, shown once when created. The store keeps
 * only its SHA-256 (a 256-bit random secret needs no slow hash: nothing can be guessed from the
 * digest), in `<state>/tokens.json`, mode 0600, in a directory of mode 0700, written atomically.
 *
 * `authenticate` hashes the presented token and compares it with EVERY stored hash using
 * `timingSafeEqual`, without stopping at a match, so the time taken does not tell how many or
 * which tokens exist. Revoked tokens stay in the file (marked), so a name is never silently reused.
 * The server re-reads the file when its modification time or size changes, so `token revoke`
 * takes effect on the next request without a restart.
 */
import fs from 'node:fs'
import path from 'node:path'
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'
import { AuthenticationError, UsageError } from '../errors.js'
import { writeFileAtomic } from '../storage/atomic-file.js'

export const ROLES = ['admin', 'super_admin'] as const
export type Role = (typeof ROLES)[number]

export const TOKEN_FILE = 'tokens.json'
const TOKEN_PATTERN = /^mbk_[A-Za-z0-9_-]{43}$/
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/

const storedToken = z.object({
  name: z.string(),
  role: z.enum(ROLES),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  revokedAt: z.string().optional(),
})
const tokenFile = z.object({ version: z.literal(1), tokens: z.array(storedToken) })
type StoredToken = z.infer<typeof storedToken>

/** Who made a request: the token's name and role. */
export interface Actor {
  readonly name: string
  readonly role: Role
}

export interface TokenInfo {
  readonly name: string
  readonly role: Role
  readonly createdAt: string
  readonly revokedAt?: string
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest()
}

/** True for text shaped like a token (so a malformed header is told apart from an unknown token only in logs, never to the client). */
export function isTokenShaped(text: string): boolean {
  return TOKEN_PATTERN.test(text)
}

export class TokenStore {
  readonly #file: string
  #cache: { mtimeMs: number; size: number; tokens: StoredToken[] } | undefined

  constructor(stateDir: string) {
    this.#file = path.join(stateDir, TOKEN_FILE)
  }

  get file(): string {
    return this.#file
  }

  #read(): StoredToken[] {
    let stat: fs.Stats
    try {
      stat = fs.statSync(this.#file)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw error
    }
    if (this.#cache && this.#cache.mtimeMs === stat.mtimeMs && this.#cache.size === stat.size) return this.#cache.tokens
    const parsed = tokenFile.safeParse(JSON.parse(fs.readFileSync(this.#file, 'utf8')))
    if (!parsed.success) throw new UsageError(`The token file ${this.#file} is damaged; move it away and create the tokens again.`, { code: 'BAD_TOKEN_FILE' })
    this.#cache = { mtimeMs: stat.mtimeMs, size: stat.size, tokens: parsed.data.tokens }
    return parsed.data.tokens
  }

  async #write(tokens: StoredToken[]): Promise<void> {
    await fs.promises.mkdir(path.dirname(this.#file), { recursive: true, mode: 0o700 })
    await writeFileAtomic(this.#file, `${JSON.stringify({ version: 1, tokens }, null, 2)}\n`)
    await fs.promises.chmod(this.#file, 0o600)
    this.#cache = undefined
  }

  /** Creates a token and returns it: the only time its text exists outside the caller. UsageError for a bad or taken name or role. */
  async create(name: string, role: string): Promise<{ token: string; info: TokenInfo }> {
    if (!NAME_PATTERN.test(name)) throw new UsageError(`Invalid token name ${JSON.stringify(name)}: 1 to 64 letters, digits, '.', '_', '@' or '-'.`, { code: 'BAD_NAME' })
    if (!(ROLES as readonly string[]).includes(role)) throw new UsageError(`Unknown role ${JSON.stringify(role)}: use admin or super_admin.`, { code: 'BAD_ROLE' })
    const tokens = this.#read()
    if (tokens.some((t) => t.name === name)) {
      throw new UsageError(`A token named "${name}" exists already${tokens.find((t) => t.name === name)?.revokedAt ? ' (revoked)' : ''}: choose another name.`, {
        code: 'FILE_EXISTS',
      })
    }
    const token = `mbk_${randomBytes(32).toString('base64url')}`
    const stored: StoredToken = { name, role: role as Role, hash: digest(token).toString('hex'), createdAt: new Date().toISOString() }
    await this.#write([...tokens, stored])
    return { token, info: { name, role: stored.role, createdAt: stored.createdAt } }
  }

  list(): TokenInfo[] {
    return this.#read().map(({ name, role, createdAt, revokedAt }) => ({ name, role, createdAt, ...(revokedAt ? { revokedAt } : {}) }))
  }

  /** Marks a token revoked. NotFound-like UsageError when no active token has that name. */
  async revoke(name: string): Promise<TokenInfo> {
    const tokens = this.#read()
    const found = tokens.find((t) => t.name === name && !t.revokedAt)
    if (!found) throw new UsageError(`No active token named "${name}" (see mergeback token list).`, { code: 'UNKNOWN_TOKEN' })
    const revokedAt = new Date().toISOString()
    await this.#write(tokens.map((t) => (t === found ? { ...t, revokedAt } : t)))
    return { name: found.name, role: found.role, createdAt: found.createdAt, revokedAt }
  }

  /**
   * The actor a bearer token belongs to. Throws AuthenticationError for a malformed, unknown or
   * revoked token — with the same message for all three, so a client learns nothing from it.
   */
  authenticate(token: string): Actor {
    const presented = digest(token)
    let match: StoredToken | undefined
    for (const stored of this.#read()) {
      const equal = timingSafeEqual(presented, Buffer.from(stored.hash, 'hex'))
      if (equal && !stored.revokedAt) match = stored
    }
    if (!match || !isTokenShaped(token)) throw new AuthenticationError('Invalid or revoked token: create one with mergeback token create --name NAME --role admin.')
    return { name: match.name, role: match.role }
  }
}
