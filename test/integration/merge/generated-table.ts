/**
 * The generated table "Gen" of the two property tests (property.test.ts, two-way;
 * three-way-property.test.ts): its model description, and how its rows and the conflicts a
 * report lists are compared with the reference model's.
 */
import type { MergeReport } from '../../../src/merge/report.js'
import { micros, type ModelKind, type ModelTable } from './reference-model.js'

/** How the generated table is keyed: one column, two, or (two-way only) none. */
export type KeyMode = 'single' | 'composite' | 'none'

/** Gen as the reference model sees it. */
export function modelTable(mode: KeyMode): ModelTable {
  const fields: { name: string; kind: ModelKind }[] = [
    { name: 'id', kind: 'integer' },
    { name: 'k2', kind: 'text' },
    { name: 'name', kind: 'text' },
    { name: 'qty', kind: 'decimal' },
    { name: 'data', kind: 'json' },
    { name: 'updatedAt', kind: 'timestamptz' },
  ]
  return { key: mode === 'single' ? ['id'] : mode === 'composite' ? ['id', 'k2'] : [], fields, timestampField: 'updatedAt' }
}

const sortKeys = (_key: string, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v)

/** One row as comparable text: numbers by value, JSON by value (text or parsed), timestamps by instant. */
export function normalize(row: Record<string, unknown>): string {
  const present = (v: unknown) => v !== null && v !== undefined
  return JSON.stringify([
    Number(row.id),
    row.k2,
    row.name ?? null,
    present(row.qty) ? Number(row.qty) : null,
    present(row.data) ? JSON.parse(typeof row.data === 'string' ? row.data : JSON.stringify(row.data), sortKeys) : null,
    present(row.updatedAt) ? micros(String(row.updatedAt)) : null,
  ])
}

/** A report's conflicts as the model spells them: the key's values as JSON text, the kind, the field names sorted. */
export function conflictsOf(report: MergeReport, mode: KeyMode): { key: string; kind: string | undefined; fields: string[] }[] {
  return report.conflicts.map((c) => {
    const key = c.key as Record<string, unknown> | number | string
    const parts = mode === 'single' ? [Number(key)] : [Number((key as Record<string, unknown>).id), (key as Record<string, unknown>).k2]
    return { key: JSON.stringify(parts), kind: c.kind, fields: c.fields.map((f) => f.name).sort() }
  })
}

/** In key order: the file holds records in key order, the model in generated order. */
export const byKey = <T extends { key: string }>(list: readonly T[]) => [...list].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
