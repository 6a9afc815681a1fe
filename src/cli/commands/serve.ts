/**
 * `mergeback serve [--host H] [--port P] [--db URL] [--dir DIR] [--config FILE] [--state DIR] …`
 * (DESIGN.md §6, §8; docs/api.md). Runs until SIGTERM / SIGINT.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { UsageError } from '../../errors.js'
import { readPassphrase } from '../../storage/passphrase.js'
import { backupDirFrom, limitsFrom, type Flags } from '../common.js'

function bytes(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined
  const match = /^(\d+)\s*([kmgt]i?b?)?$/i.exec(String(value).trim())
  if (!match) throw new UsageError(`${name} must be a size such as 2147483648, 512MiB or 2GiB, got ${JSON.stringify(value)}.`)
  const unit = (match[2] ?? '').toLowerCase().replace(/i?b$/, '')
  const factor = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[unit] ?? 1
  return Number(match[1]) * factor
}

function port(value: unknown): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--port must be 0 to 65535, got ${JSON.stringify(value)}.`)
  return n
}

/** The built admin page of this installation: `dist/web` beside `dist/cli`. */
function defaultWebDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web')
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP API and the admin page (docs/api.md)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: any free port)', '8080')
    .option('--db <url>', 'the database, alias "default" (default: env DATABASE_URL)')
    .option('--config <file>', 'JSON config: { "databases": { "alias": "URL or env:NAME" } }')
    .option('--dir <path>', 'backup directory (default: env MERGEBACK_DIR or ./backups)')
    .option('--state <dir>', 'state directory for tokens (default: env MERGEBACK_STATE_DIR, else .mergeback beside the backup directory)')
    .option('--max-upload <bytes>', 'largest upload (default 2GiB)')
    .option('--max-decompressed <bytes>', 'largest decompressed upload (default 8 × --max-upload)')
    .option('--max-depth <n>', 'refuse a backup nested deeper than this (default: env MERGEBACK_MAX_DEPTH, else 256)')
    .option('--max-record-bytes <n>', 'refuse a record longer than this (default: env MERGEBACK_MAX_RECORD_BYTES, else 256MiB)')
    .option('--max-tables <n>', 'refuse a backup with more tables (default: env MERGEBACK_MAX_TABLES, else 10000)')
    .option('--max-columns <n>', 'refuse a table with more columns (default: env MERGEBACK_MAX_COLUMNS, else 4096)')
    .option('--max-decompressed-bytes <bytes>', 'the same as --max-decompressed (the name the reader\'s errors give)')
    .option('--shutdown-timeout <seconds>', 'on SIGTERM, wait this long for running jobs before cancelling them', '30')
    .option('--web <dir>', 'the built admin page (default: dist/web of this installation)')
    .option('--passphrase-file <file>', 'passphrase of encrypted backups (or set MERGEBACK_PASSPHRASE)')
    .action(async (flags: Flags) => {
      const timeout = Number(flags.shutdownTimeout)
      if (!Number.isFinite(timeout) || timeout < 0) throw new UsageError(`--shutdown-timeout must be a number of seconds, got ${String(flags.shutdownTimeout)}.`)
      // Loaded here, not at the top: the server's modules (Hono, zod, the S3 SDK) would otherwise sit
      // in every command's memory (~20 MB of peak RSS, docs/performance.md "Round six: peak RSS").
      const [{ buildServerConfig }, { startServer }] = await Promise.all([import('../../server/config.js'), import('../../server/server.js')])
      const config = buildServerConfig({
        host: flags.host as string,
        port: port(flags.port),
        db: (flags.db as string | undefined) ?? process.env.DATABASE_URL,
        dir: backupDirFrom(flags),
        config: flags.config as string | undefined,
        state: flags.state as string | undefined,
        maxUploadBytes: bytes('--max-upload', flags.maxUpload),
        maxDecompressedBytes: bytes('--max-decompressed', flags.maxDecompressed ?? flags.maxDecompressedBytes),
        limits: (({ maxDecompressedBytes: _ignored, ...rest }) => rest)(limitsFrom(flags)),
        shutdownTimeoutMs: timeout * 1000,
        webDir: (flags.web as string | undefined) ?? defaultWebDir(),
        passphrase: readPassphrase({ passphraseFile: flags.passphraseFile as string | undefined }),
      })
      await startServer(config, { handleSignals: true })
      // Runs until a signal: the server's handles keep the process alive.
      await new Promise(() => undefined)
    })
}
