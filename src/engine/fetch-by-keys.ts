/**
 * The record lines of rows an increment found changed, fetched again by key in the same snapshot
 * (`Source.readRecordLinesByKeys`), in batches of keys; shared by the increment paths
 * (engine/incremental.ts, engine/incremental-stream.ts).
 */
import type { Source, TableSchema } from '../adapters/adapter.js'
import { keyCutter, keyText } from '../storage/digest-index.js'

/** Keys asked for in one `readRecordLinesByKeys` call. */
const KEYS_PER_FETCH = 5000

/** One fetched record line: with its newline (`line`), without it (`body`), and its key text. */
export interface FetchedLine {
  readonly line: Buffer
  readonly body: Buffer
  readonly text: string
}

/**
 * The record lines of the rows with these key texts, one array per chunk the source hands over
 * (so that a caller writes what it keeps of a chunk at once).
 */
export async function* recordLinesByKeys(source: Source, table: TableSchema, keys: readonly string[]): AsyncGenerator<FetchedLine[]> {
  const cutter = keyCutter(table)
  for (let from = 0; from < keys.length; from += KEYS_PER_FETCH) {
    const batch = keys.slice(from, from + KEYS_PER_FETCH).map((k) => JSON.parse(k) as unknown[])
    for await (const chunk of source.readRecordLinesByKeys!(table, batch)!) {
      const lines: FetchedLine[] = []
      for (let start = 0; start < chunk.length; ) {
        const end = chunk.indexOf(0x0a, start)
        const line = chunk.subarray(start, end + 1)
        const body = line.subarray(0, line.length - 1)
        lines.push({ line, body, text: cutter(body) ?? keyText(JSON.parse(body.toString('utf8')) as Record<string, unknown>, table.primaryKey) })
        start = end + 1
      }
      yield lines
    }
  }
}
