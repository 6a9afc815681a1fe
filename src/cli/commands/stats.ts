/**
 * `mergeback stats --db URL` — engine, size, tables with row counts.
 */
import type { Command } from 'commander'
import { stats } from '../../engine/inspect.js'
import { dbUrlFrom, outputFor, withDb, withJson, type Flags } from '../common.js'
import { formatBytes, textTable } from '../format-text.js'

export function register(program: Command): void {
  const command = program.command('stats').description('show a database: engine, size, tables with row counts')
  withDb(command)
  withJson(command)
  command.action(async (flags: Flags) => {
    const output = outputFor(flags)
    const report = await stats(dbUrlFrom(flags), { schema: flags.schema as string | undefined })
    output.result(report, () =>
      [
        `${report.engine} ${report.version}, database "${report.database}", ${formatBytes(report.sizeBytes)}`,
        textTable(['table', 'rows', 'size'], report.tables.map((t) => [t.name, t.rows, formatBytes(t.sizeBytes)])),
      ].join('\n'),
    )
  })
}
