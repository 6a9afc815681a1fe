/**
 * `mergeback demo` — what `npm start` runs: makes (if missing) a SQLite database of an
 * event-registration app, backs it up into the backup directory, and says what to try next.
 */
import path from 'node:path'
import type { Command } from 'commander'
import { backup } from '../../engine/backup.js'
import { backupDirFrom, outputFor, progressDrawer, withJson, type Flags } from '../common.js'
import { recordAudit } from '../audit-trail.js'
import { formatBytes } from '../format-text.js'

export function register(program: Command): void {
  const command = program
    .command('demo')
    .description('create a sample SQLite database (if missing) and back it up')
    .option('--file <path>', 'the demo database file', 'demo.db')
    .option('--dir <path>', 'backup directory (default: env MERGEBACK_DIR or ./backups)')
  withJson(command)
  command.action(async (flags: Flags) => {
    const output = outputFor(flags)
    const file = flags.file as string
    const dir = backupDirFrom(flags)
    // Loaded here so that the other verbs never load the demo data generator.
    const { createDemoDatabase } = await import('../../demo/demo-database.js')
    const demo = createDemoDatabase(file)
    const db = `sqlite:${file}`
    const started = Date.now()
    const result = await backup({ db, out: dir, name: 'demo', description: 'mergeback demo: event registrations', onProgress: progressDrawer(output) })
    await recordAudit(dir, { action: 'backup', db, options: { name: 'demo' }, outcome: 'success', counts: result.metadata.recordCounts, started, file: result.file })
    const rel = path.relative(process.cwd(), result.file) || result.file
    output.result({ success: true, database: file, created: demo.created, tables: demo.tables, backup: result }, () =>
      [
        demo.created ? `Created the demo database ${file} (an event-registration app):` : `Using the existing demo database ${file}:`,
        ...Object.entries(demo.tables).map(([t, n]) => `  ${t}: ${n} rows`),
        '',
        `Backed it up to ${rel} (${formatBytes(result.sizeBytes)}, ${(result.durationMs / 1000).toFixed(2)} s).`,
        '',
        'Try next:',
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
