/**
 * Backup files written by hand (not by BackupWriter), with valid checksums: for shapes the writer
 * would never produce (values nested 100 000 deep, duplicate keys, huge lines).
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'

export interface CraftedTable {
  readonly header: Record<string, unknown>
  /** Each record's JSON text, exactly as it goes on its line. */
  readonly lines: readonly string[]
}

/** Writes a native-layout backup of `tables`, each record on a line of its own, with matching counts and checksums. */
export function writeCraftedFile(file: string, engine: string, tables: readonly CraftedTable[]): void {
  const checksums: Record<string, string> = {}
  const recordCounts: Record<string, number> = {}
  const parts: string[] = []
  for (const table of tables) {
    const name = String(table.header.tableName)
    checksums[name] = 'sha256:' + createHash('sha256').update(table.lines.map((l) => `${l}\n`).join('')).digest('hex')
    recordCounts[name] = table.lines.length
    parts.push(`${JSON.stringify(table.header).slice(0, -1)},"records":[\n${table.lines.join(',\n')}\n]}`)
  }
  const metadata = {
    format: 'mergeback',
    version: '1.0',
    exportedAt: new Date().toISOString(),
    engine,
    database: 'crafted',
    backupName: 'crafted',
    tables: tables.map((t) => t.header.tableName),
    recordCounts,
    compression: 'none',
    checksums,
  }
  fs.writeFileSync(file, `{"tables":[\n${parts.join(',\n')}\n],\n"metadata":${JSON.stringify(metadata)}}\n`)
}

/** A table `t` with an integer key `id` and a column `a` of `kind`. */
export function keyedTable(lines: readonly string[], kind = 'unknown', typed = true): CraftedTable {
  const columns = [
    { name: 'id', type: 'INTEGER', kind: 'integer', nullable: false },
    { name: 'a', type: 'TEXT', kind, nullable: true },
  ]
  return { header: { tableName: 't', primaryKey: 'id', ...(typed ? { columns } : {}) }, lines }
}

export function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth)
}
