/**
 * The two ways a Source gives a table's records, as text to compare: its record lines
 * (Source.readRecordLines, the backup fast path) and JSON.stringify of readTable's rows. The
 * record-lines tests of every engine check that they are the same bytes.
 */
import { isUtf8 } from 'node:buffer'
import type { ReadOptions, Row, Source, TableSchema } from '../../src/adapters/adapter.js'
import { readBackup, type LineConverter } from '../../src/format/reader.js'
import { scanRecord } from '../../src/format/record-scan.js'
import { openBackupStream } from '../../src/storage/backup-file.js'

/**
 * All of readRecordLines' chunks as one string; undefined when the source declines the table.
 * Bytes that are not UTF-8 fail here: decoding would hide them, and the writer's bytes of a
 * JSON.stringify are always UTF-8, so equal strings then mean equal bytes.
 */
export async function readLines(source: Source, table: TableSchema, options?: ReadOptions): Promise<string | undefined> {
  const lines = source.readRecordLines?.(table, options)
  if (lines === undefined) return undefined
  const chunks: Buffer[] = []
  for await (const chunk of lines) chunks.push(chunk)
  const bytes = Buffer.concat(chunks)
  if (!isUtf8(bytes)) throw new Error(`the record lines of ${table.name} are not UTF-8`)
  return bytes.toString('utf8')
}

/** readTable's rows, each as JSON.stringify of it followed by `\n`. */
export async function readRowsAsLines(source: Source, table: TableSchema): Promise<string> {
  let text = ''
  for await (const batch of source.readTable(table)) for (const row of batch as Row[]) text += `${JSON.stringify(row)}\n`
  return text
}

/** Both paths for every table `source` describes: [table, lines or undefined, lines from rows]. */
export async function bothPaths(source: Source): Promise<[string, string | undefined, string][]> {
  const schema = await source.describe()
  const result: [string, string | undefined, string][] = []
  for (const table of schema.tables) result.push([table.name, await readLines(source, table), await readRowsAsLines(source, table)])
  return result
}

/** A backup file's record lines per table, sorted (an increment's too), to compare two backups' records. */
export async function backupRecordLines(file: string): Promise<Record<string, string[]>> {
  const tables: Record<string, string[]> = {}
  for await (const event of readBackup(await openBackupStream(file), { records: 'lines', incremental: true })) {
    if (event.type === 'lines') (tables[event.table] ??= []).push(...event.lines.toString('utf8').split('\n').filter((l) => l !== ''))
  }
  for (const lines of Object.values(tables)) lines.sort()
  return tables
}

/**
 * A line converter (readBackup's convertLines) that vouches for a line exactly when scanRecord
 * does (the contract), marking each output line with how it was made: C by convertChecked, S by
 * convert. `refuse`: lines it declines although they check out (the reader must then check them
 * its own way).
 */
export function markingConverter(refuse: (text: string) => boolean = () => false): LineConverter {
  let out = ''
  return {
    convertChecked(buffer, start, end, shape) {
      const text = buffer.toString('utf8', start, end)
      if (refuse(text) || scanRecord(buffer, start, end, shape) === undefined) return false
      out += `C${text}\n`
      return true
    },
    convert(line) {
      out += `S${line.toString('utf8')}\n`
    },
    take() {
      const taken = Buffer.from(out)
      out = ''
      return taken
    },
  }
}
