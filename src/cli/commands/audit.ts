/**
 * `mergeback audit [--dir D] [--json]` lists the audit log; `mergeback audit verify` checks its
 * hash chain and exits 2, naming the lines, when an entry was edited, removed, inserted or reordered.
 */
import path from 'node:path'
import type { Command } from 'commander'
import { AUDIT_FILE, readAudit, verifyAudit } from '../../audit/audit-log.js'
import { IntegrityError } from '../../errors.js'
import { backupDirFrom, outputFor, parseNonNegativeInt, withJson, type Flags } from '../common.js'
import { textTable } from '../format-text.js'

function summary(counts: unknown): string {
  if (!counts || typeof counts !== 'object') return ''
  return Object.entries(counts as Record<string, unknown>)
    .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ')
}

export function register(program: Command): void {
  const dirOption = ['--dir <path>', 'backup directory (default: env MERGEBACK_DIR or ./backups)'] as const
  const command = program
    .command('audit')
    .description('show the audit log of the backup directory (and `audit verify` to check it)')
    .option('--last <n>', 'only the n newest entries')
    .option(...dirOption)
  withJson(command)
  command.action(async (flags: Flags) => {
    const output = outputFor(flags)
    const dir = backupDirFrom(flags)
    const last = parseNonNegativeInt('--last', flags.last)
    const { entries, damagedLines } = await readAudit(dir)
    const shown = last === undefined ? entries : entries.slice(Math.max(0, entries.length - last))
    output.result({ file: path.resolve(dir, AUDIT_FILE), entries: shown, damagedLines }, () => {
      if (entries.length === 0 && damagedLines.length === 0) return `No audit entries in ${path.join(dir, AUDIT_FILE)}.`
      const lines = [
        textTable(
          ['#', 'time (UTC)', 'actor', 'action', 'outcome', 'target', 'counts'],
          // Restores and merges name both ends: the file, and the database it went into.
          shown.map((e) => [e.seq, e.time.slice(0, 19).replace('T', ' '), e.actor, e.action, e.outcome, (e.action === 'backup' ? [e.target, e.file] : [e.file, e.target]).filter(Boolean).join(' → '), summary(e.counts)]),
        ),
      ]
      for (const e of shown) if (e.error) lines.push(`  #${e.seq}: ${e.error}`)
      if (damagedLines.length) lines.push(`Unreadable lines: ${damagedLines.join(', ')} (run mergeback audit verify).`)
      return lines.join('\n')
    })
  })

  const verify = command
    .command('verify')
    .description('check the audit log\'s hash chain and its recorded head (exit 2 when an entry was edited, removed — the last ones too —, inserted or reordered)')
    .option(...dirOption)
  withJson(verify)
  verify.action(async (flags: Flags, sub: Command) => {
    // --dir/--json may be given before or after `verify`.
    const all = { ...sub.parent?.opts(), ...flags }
    const output = outputFor(all)
    const dir = backupDirFrom(all)
    const file = path.join(dir, AUDIT_FILE)
    const report = await verifyAudit(dir)
    if (!report.ok) {
      const where = report.problems.map((p) => `line ${p.line}: ${p.problem}`).join('; ')
      throw new IntegrityError(`The audit log ${file} was tampered with: ${where}.`, 'tampered', {
        details: { file, entries: report.entries, problems: report.problems },
      })
    }
    output.result({ file: path.resolve(file), ...report }, () =>
      [`${file}: ${report.entries} entr${report.entries === 1 ? 'y' : 'ies'}, chain intact. Head: ${report.head}`, ...report.warnings.map((w) => `Warning: ${w}`)].join('\n'),
    )
  })
}
