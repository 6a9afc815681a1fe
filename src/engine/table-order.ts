/**
 * Foreign-key order: parents before children, so inserts never reference a row that is not there yet.
 *
 * Algorithm: Kahn's topological sort over the "references" edges between the given tables
 * (self-references and references to tables outside the set are ignored), taking tables in their
 * given order whenever there is a choice, so the result is stable. Tables on a cycle cannot be
 * ordered; they are appended in their given order and reported, so the caller can rely on the
 * destination's deferred constraint checks (every destination checks foreign keys in finish()).
 */
import type { TableSchema } from '../adapters/adapter.js'

type Orderable = Pick<TableSchema, 'name' | 'foreignKeys'> & { readonly options?: TableSchema['options'] }

/**
 * The tables `t` must come after: those its foreign keys reference, and those the foreign keys
 * of its partitions reference (PostgreSQL, `options.partitionReferences`: the partitions are not
 * tables of their own in a backup, their rows are the parent's).
 */
export function referencedTables(t: Orderable): string[] {
  const names = t.foreignKeys.map((fk) => fk.referencedTable)
  const viaPartitions = t.options?.partitionReferences
  if (Array.isArray(viaPartitions)) for (const name of viaPartitions) if (typeof name === 'string') names.push(name)
  return names
}

export interface TableOrder<T> {
  readonly ordered: T[]
  /** Names of the tables that sit on a foreign-key cycle. */
  readonly cyclic: string[]
}

export function foreignKeyOrder<T extends Orderable>(tables: readonly T[]): TableOrder<T> {
  const byName = new Map(tables.map((t) => [t.name, t]))
  const parents = new Map<string, Set<string>>()
  for (const t of tables) {
    const deps = new Set<string>()
    for (const referenced of referencedTables(t)) if (referenced !== t.name && byName.has(referenced)) deps.add(referenced)
    parents.set(t.name, deps)
  }
  const ordered: T[] = []
  const done = new Set<string>()
  let progressed = true
  while (progressed) {
    progressed = false
    for (const t of tables) {
      if (done.has(t.name)) continue
      if ([...parents.get(t.name)!].every((p) => done.has(p))) {
        ordered.push(t)
        done.add(t.name)
        progressed = true
      }
    }
  }
  const cyclic = tables.filter((t) => !done.has(t.name))
  return { ordered: [...ordered, ...cyclic], cyclic: cyclic.map((t) => t.name) }
}

/** True when `names` already lists every table after the tables it references. */
export function isForeignKeyOrdered(tables: readonly Orderable[]): boolean {
  const seen = new Set<string>()
  const names = new Set(tables.map((t) => t.name))
  for (const t of tables) {
    for (const referenced of referencedTables(t)) {
      if (referenced !== t.name && names.has(referenced) && !seen.has(referenced)) return false
    }
    seen.add(t.name)
  }
  return true
}
