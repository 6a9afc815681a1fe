/**
 * `mergeback inspect FILE` — metadata, tables, counts, schema — and `mergeback verify FILE`.
 */
import type { Command } from 'commander'
import { inspect, verify } from '../../engine/inspect.js'
import { limitsFrom, locateBackup, outputFor, setExitCode, withJson, withLimits, withStorage, type Flags } from '../common.js'
import { readPassphrase } from '../../storage/passphrase.js'
import { textTable } from '../format-text.js'
import { remoteFrom, withRemote } from '../remote.js'
import { withDownloaded } from '../../remote/remote-ops.js'
import { EXIT_BAD_INPUT } from '../exit-codes.js'
import { recordVerification, verifyOutcome } from '../../storage/catalog.js'

export function register(program: Command): void {
  const inspectCommand = program
    .command('inspect')
    .description('show a backup: metadata, tables, record counts, schema')
    .argument('<file>', 'backup file, or a backup name in the backup directory')
    .option('--schema', 'also print each table\'s columns')
  withStorage(inspectCommand)
  withLimits(inspectCommand)
  withJson(inspectCommand)
  inspectCommand.action(async (fileArg: string, flags: Flags) => {
    const output = outputFor(flags)
    const file = await locateBackup(flags, fileArg)
    const report = await inspect(file, { passphrase: readPassphrase({ passphraseFile: flags.passphraseFile as string | undefined }), limits: limitsFrom(flags) })
    output.result(report, () => {
      const m = report.metadata
      const lines = [
        `${report.file} (${report.layout} layout)`,
        `  engine ${String(m.engine ?? '?')}, database ${String(m.database ?? '?')}, exported ${String(m.exportedAt ?? m.timestamp ?? '?')}`,
        `  name ${String(m.backupName ?? '?')}${m.description ? `: ${String(m.description)}` : ''}`,
        ...(Array.isArray(m.chain)
          ? [
              `  incremental: the final state of a chain of ${m.chain.length} links (records below are that state's):`,
              ...(m.chain as { file: string; depth: number; createdAt: string }[]).map((l) => `    ${l.depth === 0 ? 'full  ' : `+${String(l.depth).padEnd(5)}`} ${l.file}  ${l.createdAt}`),
            ]
          : []),
        '',
        textTable(
          ['table', 'records', 'key', 'columns'],
          report.tables.map((t) => [t.name, t.records, t.schema.primaryKey.join(', ') || '(none)', t.schema.columns.length]),
        ),
      ]
      if (flags.schema) {
        for (const t of report.tables) {
          lines.push('', `${t.name}:`)
          for (const c of t.schema.columns) lines.push(`  ${c.name} ${c.type || '(no type)'} [${c.kind}]${c.nullable ? '' : ' not null'}`)
        }
      }
      return lines.join('\n')
    })
  })

  const verifyCommand = program
    .command('verify')
    .description('check a backup\'s integrity (exit 2 when damaged)')
    .argument('<file>', 'backup file, or a backup name in the backup directory')
    .option('--drop-unsafe-definitions', 'accept a file whose defaults, CHECKs or index definitions cannot be rebuilt (restore leaves them out)')
  withStorage(verifyCommand)
  withLimits(verifyCommand)
  withRemote(verifyCommand, 'verify a backup in this S3 location (downloaded to a temporary file, checked, removed)')
  withJson(verifyCommand)
  verifyCommand.action(async (fileArg: string, flags: Flags) => {
    const output = outputFor(flags)
    const options = {
      passphrase: readPassphrase({ passphraseFile: flags.passphraseFile as string | undefined }),
      dropUnsafeDefinitions: Boolean(flags.dropUnsafeDefinitions),
      limits: limitsFrom(flags),
    }
    const remote = await remoteFrom(flags)
    let report: Awaited<ReturnType<typeof verify>>
    if (remote) {
      try {
        report = await withDownloaded(remote, fileArg, async (local, entry) => ({ ...(await verify(local, options)), file: entry.path }))
      } finally {
        remote.close()
      }
    } else {
      report = await verify(await locateBackup(flags, fileArg), options)
      // The catalog keeps the outcome (the list's verified state); a file without a sidecar keeps none.
      // A read-only backup directory only loses that note.
      await recordVerification(report.file, verifyOutcome(report)).catch(() => false)
    }
    output.result(report, () =>
      [`${report.file}: ${report.ok ? 'OK' : 'DAMAGED'}`, ...report.checks.map((c) => `  ${c.ok ? 'ok  ' : 'FAIL'} ${c.check}${c.detail ? ` — ${c.detail}` : ''}`)].join('\n'),
    )
    if (!report.ok) setExitCode(EXIT_BAD_INPUT)
  })
}
