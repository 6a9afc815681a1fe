/**
 * `mergeback demo` — makes (if missing) a SQLite database of an event-registration app, backs it
 * up into the backup directory, and says what to try next on the command line.
 *
 * `mergeback demo --serve` — what `npm start` runs: the same database, a first backup (only when
 * the directory has none yet, so restarts do not pile up copies), a fresh `super_admin` token,
 * then `mergeback serve` on it; prints the page's URL and the token to sign in with. Older demo
 * tokens are revoked, so only the token printed last works.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { backup, type BackupResult } from '../../engine/backup.js'
import { listBackups } from '../../storage/catalog.js'
import { UsageError } from '../../errors.js'
import { backupDirFrom, outputFor, progressDrawer, withJson, type Flags } from '../common.js'
import { recordAudit } from '../audit-trail.js'
import { formatBytes } from '../format-text.js'

/** Prefix of the tokens `demo --serve` makes (followed by the time). */
const DEMO_TOKEN_PREFIX = 'demo-'

export function register(program: Command): void {
  const command = program
    .command('demo')
    .description('create a sample SQLite database (if missing) and back it up; with --serve, also open the admin page on it')
    .option('--file <path>', 'the demo database file', 'demo.db')
    .option('--dir <path>', 'backup directory (default: env MERGEBACK_DIR or ./backups)')
    .option('--serve', 'then create a super_admin token and run the server with the admin page (what npm start does)')
    .option('--host <host>', 'with --serve: address to listen on', '127.0.0.1')
    .option('--port <port>', 'with --serve: port', '8080')
  withJson(command)
  command.action(async (flags: Flags) => {
    if (flags.serve) return serveDemo(flags)
    const output = outputFor(flags)
    const file = flags.file as string
    const dir = backupDirFrom(flags)
    const { demo, result } = await prepareDemo(file, dir, flags, true)
    const db = `sqlite:${file}`
    const rel = path.relative(process.cwd(), result!.file) || result!.file
    output.result({ success: true, database: file, created: demo.created, tables: demo.tables, backup: result }, () =>
      [
        demo.created ? `Created the demo database ${file} (an event-registration app):` : `Using the existing demo database ${file}:`,
        ...Object.entries(demo.tables).map(([t, n]) => `  ${t}: ${n} rows`),
        '',
        `Backed it up to ${rel} (${formatBytes(result!.sizeBytes)}, ${(result!.durationMs / 1000).toFixed(2)} s).`,
        '',
        'Try next:',
        `  npm start                                          # the same, with the admin page in your browser`,
        `  npx mergeback inspect ${rel}                       # what is in the backup`,
        `  npx mergeback verify ${rel}                        # check its integrity`,
        `  npx mergeback restore ${rel} --db sqlite:copy.db   # restore into a new database`,
        `  sqlite3 ${file} "DELETE FROM Message WHERE rowid % 10 = 0"   # (or any accidental deletion)`,
        `  npx mergeback analyze ${rel} --db ${db}    # preview what a smart merge would bring back`,
        `  npx mergeback merge ${rel} --db ${db} --yes`,
        `  npx mergeback list                                 # the backups in ${dir}`,
        `  npx mergeback stats --db ${db}`,
      ].join('\n'),
    )
  })
}

/** Creates the database if missing; backs it up always (`always`) or only into an empty directory. */
async function prepareDemo(file: string, dir: string, flags: Flags, always: boolean): Promise<{ demo: { created: boolean; tables: Record<string, number> }; result: BackupResult | null }> {
  // Loaded here so that the other verbs never load the demo data generator.
  const { createDemoDatabase } = await import('../../demo/demo-database.js')
  const demo = createDemoDatabase(file)
  if (!always && ((await listBackups(dir).catch(() => [])).length ?? 0) > 0) return { demo, result: null }
  const db = `sqlite:${file}`
  const started = Date.now()
  const result = await backup({ db, out: dir, name: 'demo', description: 'mergeback demo: event registrations', onProgress: progressDrawer(outputFor(flags)) })
  await recordAudit(dir, { action: 'backup', db, options: { name: 'demo' }, outcome: 'success', counts: result.metadata.recordCounts, started, file: result.file })
  return { demo, result }
}

async function serveDemo(flags: Flags): Promise<void> {
  const file = flags.file as string
  const dir = backupDirFrom(flags)
  const port = Number(flags.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0 to 65535, got ${JSON.stringify(flags.port)}.`)
  const { demo, result } = await prepareDemo(file, dir, flags, false)
  const [{ buildServerConfig, stateDirFrom }, { startServer }, { TokenStore }, { readPassphrase }] = await Promise.all([
    import('../../server/config.js'),
    import('../../server/server.js'),
    import('../../server/tokens.js'),
    import('../../storage/passphrase.js'),
  ])
  const stateDir = stateDirFrom(undefined, dir)
  const tokens = new TokenStore(stateDir)
  for (const t of tokens.list()) if (t.name.startsWith(DEMO_TOKEN_PREFIX) && !t.revokedAt) await tokens.revoke(t.name)
  const name = `${DEMO_TOKEN_PREFIX}${new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-')}`
  const { token } = await tokens.create(name, 'super_admin')
  const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'web')
  const config = buildServerConfig({ host: flags.host as string, port, db: `sqlite:${file}`, dir, state: stateDir, webDir, shutdownTimeoutMs: 30_000, passphrase: readPassphrase({}) })
  const server = await startServer(config, { handleSignals: true })
  const url = `${server.url.replace(/\/$/, '')}/admin/backup`
  outputFor(flags).result({ success: true, url, token, tokenName: name, database: file, created: demo.created, tables: demo.tables, backup: result }, () =>
    [
      demo.created ? `Created the demo database ${file} (an event-registration app).` : `Using the demo database ${file}.`,
      result ? `Made a first backup: ${path.relative(process.cwd(), result.file) || result.file}.` : `The backups in ${dir} are kept as they are.`,
      '',
      `Open ${url}`,
      `and sign in with this token (super_admin "${name}"; earlier demo tokens are revoked):`,
      '',
      `  ${token}`,
      '',
      'Ctrl-C stops the server. The CLI-only demo is `npx mergeback demo`.',
    ].join('\n'),
  )
  // Runs until a signal: the server's handles keep the process alive.
  await new Promise(() => undefined)
}
