/**
 * Conflict review: each conflicting record with a side-by-side field diff (backup vs current,
 * long values folded; a three-way conflict also shows its kind and the base's value, and
 * "(deleted)" for the side that deleted the record), a choice per record (backup / current / merge / edit the values), "apply
 * to all conflicts of this table", a filter by table and a search, and paging so that thousands
 * of conflicts stay usable. Choices are kept by the wizard, keyed by table and key.
 */
import { useMemo, useState } from 'preact/hooks'
import type { MergeConflict, Resolution, Strategy, WireValue } from '../api/api'
import { Button, Field, formatCount, plural } from './base/ui'

export const PAGE_SIZE = 20

export function conflictId(c: { table: string; key: WireValue }): string {
  return `${c.table}\u0000${JSON.stringify(c.key)}`
}

export function keyText(key: WireValue): string {
  if (key !== null && typeof key === 'object' && !Array.isArray(key)) {
    return Object.entries(key)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(', ')
  }
  return typeof key === 'string' ? key : JSON.stringify(key)
}

/** What a conflict becomes without a choice of its own, in words. */
export function strategyDefault(strategy: Strategy): string {
  return { backup_wins: 'backup (strategy)', current_wins: 'current (strategy)', merge_fields: 'merge (strategy)', manual: 'not resolved yet' }[strategy]
}

type Choice = 'backup' | 'current' | 'merge' | 'edit'

function choiceOf(r: Resolution | undefined): Choice | undefined {
  if (r === undefined) return undefined
  return typeof r === 'string' ? r : 'edit'
}

export function ConflictReview(props: {
  conflicts: readonly MergeConflict[]
  strategy: Strategy
  choices: ReadonlyMap<string, Resolution>
  onChoose: (updates: ReadonlyMap<string, Resolution | undefined>) => void
}) {
  const { conflicts, choices } = props
  const tables = useMemo(() => [...new Set(conflicts.map((c) => c.table))], [conflicts])
  const [table, setTable] = useState<string>('')
  const [search, setSearch] = useState('')
  const [show, setShow] = useState<'all' | 'open' | 'chosen'>('all')
  const [page, setPage] = useState(0)
  const [bulk, setBulk] = useState<'backup' | 'current' | 'merge'>('backup')

  const filtered = useMemo(() => {
    const q = search.trim().toLowerCase()
    return conflicts.filter((c) => {
      if (table && c.table !== table) return false
      const chosen = choices.has(conflictId(c))
      if (show === 'open' && chosen) return false
      if (show === 'chosen' && !chosen) return false
      if (!q) return true
      if (keyText(c.key).toLowerCase().includes(q)) return true
      return c.fields.some(
        (f) => f.name.toLowerCase().includes(q) || valueText(f.backup).toLowerCase().includes(q) || valueText(f.current).toLowerCase().includes(q) || valueText(f.base).toLowerCase().includes(q),
      )
    })
  }, [conflicts, table, search, show, choices])
  const pages = Math.max(1, Math.ceil(filtered.length / PAGE_SIZE))
  const current = Math.min(page, pages - 1)
  const visible = filtered.slice(current * PAGE_SIZE, (current + 1) * PAGE_SIZE)
  const chosenCount = conflicts.filter((c) => choices.has(conflictId(c))).length

  const applyToTable = () => {
    const updates = new Map<string, Resolution>()
    for (const c of conflicts) if (c.table === table) updates.set(conflictId(c), bulk)
    props.onChoose(updates)
  }

  return (
    <div class="conflict-review">
      <p>
        <strong>{plural(conflicts.length, 'conflicting record')}</strong>:{' '}
        {conflicts.some((c) => c.kind) ? 'both sides changed them since the base backup (or one deleted what the other changed).' : 'both sides changed and the timestamps cannot tell which is newer.'}{' '}
        {chosenCount === conflicts.length ? (
          <>All have your choice.</>
        ) : (
          <>
            {formatCount(chosenCount)} chosen by you; the rest become <strong>{strategyDefault(props.strategy)}</strong>.
          </>
        )}
      </p>
      <div class="toolbar" role="search">
        <Field label="Table">
          {(id) => (
            <select
              id={id}
              class="input"
              value={table}
              onChange={(e) => {
                setTable((e.currentTarget as HTMLSelectElement).value)
                setPage(0)
              }}
            >
              <option value="">All tables ({formatCount(conflicts.length)})</option>
              {tables.map((t) => (
                <option key={t} value={t}>
                  {t} ({formatCount(conflicts.filter((c) => c.table === t).length)})
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Show">
          {(id) => (
            <select
              id={id}
              class="input"
              value={show}
              onChange={(e) => {
                setShow((e.currentTarget as HTMLSelectElement).value as typeof show)
                setPage(0)
              }}
            >
              <option value="all">All conflicts</option>
              <option value="open">Not chosen yet</option>
              <option value="chosen">Chosen by me</option>
            </select>
          )}
        </Field>
        <Field label="Search keys and values">
          {(id) => (
            <input
              id={id}
              class="input"
              type="search"
              value={search}
              placeholder="e.g. u05 or an e-mail"
              onInput={(e) => {
                setSearch((e.currentTarget as HTMLInputElement).value)
                setPage(0)
              }}
            />
          )}
        </Field>
      </div>
      {table && (
        <div class="toolbar bulk">
          <Field label={`For every conflict of ${table}`}>
            {(id) => (
              <select id={id} class="input" value={bulk} onChange={(e) => setBulk((e.currentTarget as HTMLSelectElement).value as typeof bulk)}>
                <option value="backup">take the backup's values</option>
                <option value="current">keep the current values</option>
                <option value="merge">merge the fields</option>
              </select>
            )}
          </Field>
          <Button onClick={applyToTable}>Apply to all {formatCount(conflicts.filter((c) => c.table === table).length)} conflicts of this table</Button>
        </div>
      )}
      {visible.length === 0 && <p class="empty">No conflict matches.</p>}
      {visible.map((c) => (
        <ConflictCard key={conflictId(c)} conflict={c} resolution={choices.get(conflictId(c))} strategy={props.strategy} onChoose={(r) => props.onChoose(new Map([[conflictId(c), r]]))} />
      ))}
      {pages > 1 && (
        <nav class="pager" aria-label="Conflict pages">
          <Button class="btn-small" disabled={current === 0} onClick={() => setPage(current - 1)}>
            ← Previous
          </Button>
          <span>
            Page {current + 1} of {pages} ({formatCount(filtered.length)} conflicts)
          </span>
          <Button class="btn-small" disabled={current >= pages - 1} onClick={() => setPage(current + 1)}>
            Next →
          </Button>
        </nav>
      )}
    </div>
  )
}

function ConflictCard(props: { conflict: MergeConflict; resolution: Resolution | undefined; strategy: Strategy; onChoose: (r: Resolution | undefined) => void }) {
  const { conflict: c, resolution } = props
  const choice = choiceOf(resolution)
  const key = keyText(c.key)
  const name = `choice-${conflictId(c)}`
  const editValues = resolution && typeof resolution === 'object' ? resolution.fields : null
  const threeWay = c.kind !== undefined
  const setChoice = (v: Choice) => {
    if (v === 'edit') props.onChoose({ fields: Object.fromEntries(c.fields.map((f) => [f.name, f.backup])) })
    else props.onChoose(v)
  }
  return (
    <article class="conflict" aria-label={`Conflict ${c.table} ${key}`} data-key={key} data-table={c.table}>
      <header class="conflict-head">
        <div>
          <span class="muted small">{c.table}</span> <span class="conflict-key">{key}</span>
          {c.kind && (
            <span class="conflict-kind small" title={KIND_HINT[c.kind]}>
              {' '}
              {c.kind}
            </span>
          )}
          <span class="muted small"> · {c.fields.length === 1 ? '1 field differs' : `${c.fields.length} fields differ`}</span>
          {c.kind && <span class="muted small"> · {KIND_HINT[c.kind]}</span>}
        </div>
        <fieldset class="choices">
          <legend>
            Resolution for {c.table} {key}
          </legend>
          {(
            [
              ['backup', 'Backup'],
              ['current', 'Current'],
              ['merge', 'Merge'],
              ['edit', 'Edit'],
            ] as const
          ).map(([v, label]) => (
            <label class="choice" key={v}>
              <input type="radio" name={name} value={v} checked={choice === v} onChange={() => setChoice(v)} />
              <span>{label}</span>
            </label>
          ))}
          {choice && (
            <Button class="btn-small btn-ghost" onClick={() => props.onChoose(undefined)} aria-label={`Clear the choice for ${c.table} ${key}`}>
              Clear
            </Button>
          )}
        </fieldset>
      </header>
      <table class="diff">
        <thead>
          <tr>
            <th scope="col">Field</th>
            {threeWay && <th scope="col">Base</th>}
            <th scope="col">Backup</th>
            <th scope="col">Current</th>
            {choice === 'edit' && <th scope="col">Your value</th>}
          </tr>
        </thead>
        <tbody>
          {c.fields.map((f) => (
            <tr key={f.name}>
              <th scope="row">{f.name}</th>
              {threeWay && (
                <td class="side-base">
                  <Value value={f.base ?? null} />
                </td>
              )}
              <td class={`side-backup ${choice === 'backup' ? 'chosen' : ''}`}>{c.kind === 'delete/modify' ? <span class="deleted">(deleted)</span> : <Value value={f.backup} />}</td>
              <td class={`side-current ${choice === 'current' ? 'chosen' : ''}`}>{c.kind === 'modify/delete' ? <span class="deleted">(deleted)</span> : <Value value={f.current} />}</td>
              {choice === 'edit' && editValues && (
                <td class="edit-row">
                  <label class="visually-hidden" for={`${name}-${f.name}`}>
                    Value of {f.name} for {c.table} {key}
                  </label>
                  <input
                    id={`${name}-${f.name}`}
                    class="input"
                    value={valueText(editValues[f.name] ?? null)}
                    onInput={(e) => props.onChoose({ fields: { ...editValues, [f.name]: parseEdited((e.currentTarget as HTMLInputElement).value, f.backup, f.current) } })}
                  />
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted small conflict-foot">
        {choice === undefined && <>Without a choice: {strategyDefault(props.strategy)}.</>}
        {choice === 'backup' && <>The record takes the backup's values.</>}
        {choice === 'current' && <>The record stays as it is now.</>}
        {choice === 'merge' && <>Per field: equal stays; one side empty takes the other; both set takes the newer record's value (else the current).</>}
        {choice === 'edit' && <>Your values are written on top of the current record.</>}
      </p>
    </article>
  )
}

/** A three-way conflict's kind in words. */
const KIND_HINT: Record<NonNullable<MergeConflict['kind']>, string> = {
  'modify/modify': 'changed on both sides, differently',
  'delete/modify': 'deleted in the backup, changed here',
  'modify/delete': 'changed in the backup, deleted here',
}

export function valueText(v: WireValue | undefined): string {
  if (v === undefined) return ''
  if (typeof v === 'string') return v
  return JSON.stringify(v)
}

/** An edited value keeps the type of the sides: text stays text; numbers, booleans, null and JSON are parsed. */
function parseEdited(text: string, backup: WireValue, current: WireValue): WireValue {
  if (typeof backup === 'string' || typeof current === 'string') return text
  try {
    return JSON.parse(text) as WireValue
  } catch {
    return text
  }
}

const FOLD_AT = 160

function Value(props: { value: WireValue }) {
  const v = props.value
  if (v === null) return <span class="null">null</span>
  const text = valueText(v)
  if (text.length <= FOLD_AT) return <>{text}</>
  return (
    <details class="fold">
      <summary>
        {text.slice(0, 80)}… <span class="small">({formatCount(text.length)} characters: show all)</span>
      </summary>
      {text}
    </details>
  )
}
