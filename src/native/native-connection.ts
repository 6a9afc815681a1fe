/**
 * How the engines' programs are told where to connect: everything from the database URL except
 * the password, which goes in the environment (PGPASSWORD, MYSQL_PWD) so that it never appears
 * in the process list, and is listed in `secrets` so that error messages can remove it.
 */
import type { ConnectionConfig } from '../adapters/adapter.js'
import { UsageError } from '../errors.js'

export interface ToolConnection {
  readonly env: Record<string, string>
  readonly secrets: readonly string[]
}

/**
 * libpq connection string without the password, and mergeback's own `schema` parameter removed
 * (libpq would reject it; a full backup covers the whole database).
 */
export function postgresToolConnection(config: ConnectionConfig): ToolConnection & { url: string } {
  const url = new URL(config.url)
  const password = decodeURIComponent(url.password)
  url.password = ''
  url.searchParams.delete('schema')
  const env: Record<string, string> = { PGCONNECT_TIMEOUT: String(Math.max(1, Math.ceil((config.connectTimeoutMs ?? 5000) / 1000))) }
  if (password) env.PGPASSWORD = password
  return { url: url.toString(), env, secrets: password ? [password, encodeURIComponent(password)] : [] }
}

/** mariadb / mariadb-dump connection options (host, port, user, socket, ssl) without the password. */
export function mysqlConnectionArgs(config: ConnectionConfig): ToolConnection & { args: string[] } {
  const url = new URL(config.url)
  const password = decodeURIComponent(url.password)
  const args = [
    `--host=${url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1'}`,
    `--port=${url.port || '3306'}`,
    `--user=${decodeURIComponent(url.username) || 'root'}`,
  ]
  for (const [name, value] of url.searchParams) {
    if (name === 'socket') args.push(`--socket=${value}`)
    else if (name === 'ssl' && /^(true|1|required|verify)$/i.test(value)) args.push('--ssl', '--ssl-verify-server-cert')
    else if (name === 'ssl' && /^skip-verify$/i.test(value)) args.push('--ssl')
    else if (name === 'ssl' || name === 'local-infile') continue
    else throw new UsageError(`Database URL ${config.redacted} has an unknown parameter "${name}".`, { code: 'BAD_URL' })
  }
  // The client reads MYSQL_PWD when no --password is given (MariaDB and MySQL clients alike).
  return { args, env: password ? { MYSQL_PWD: password } : {}, secrets: password ? [password] : [] }
}
