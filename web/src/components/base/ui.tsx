/**
 * The few base pieces every panel reuses: a labelled field, an error note placed next to its
 * cause, a progress bar, a card, and formatting of sizes, counts and times.
 */
import type { ComponentChildren, JSX } from 'preact'
import { useId } from 'preact/hooks'

export function Card(props: { title?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren; class?: string; id?: string }) {
  return (
    <section class={`card ${props.class ?? ''}`} id={props.id} aria-labelledby={props.title ? `${props.id ?? ''}-title` : undefined}>
      {(props.title || props.actions) && (
        <header class="card-head">
          {props.title && <h2 id={`${props.id ?? ''}-title`}>{props.title}</h2>}
          {props.actions && <div class="card-actions">{props.actions}</div>}
        </header>
      )}
      {props.children}
    </section>
  )
}

/** A label above its control, an optional hint below, and the control's error right under it. */
export function Field(props: {
  label: ComponentChildren
  hint?: ComponentChildren
  error?: string | null
  children: (id: string, describedBy: string | undefined) => ComponentChildren
}) {
  const id = useId()
  const hintId = props.hint ? `${id}-hint` : undefined
  const errorId = props.error ? `${id}-error` : undefined
  const describedBy = [hintId, errorId].filter(Boolean).join(' ') || undefined
  return (
    <div class={`field ${props.error ? 'has-error' : ''}`}>
      <label for={id}>{props.label}</label>
      {props.children(id, describedBy)}
      {props.hint && (
        <p class="hint" id={hintId}>
          {props.hint}
        </p>
      )}
      {props.error && <ErrorNote id={errorId}>{props.error}</ErrorNote>}
    </div>
  )
}

export function Checkbox(props: { label: ComponentChildren; checked: boolean; onChange: (v: boolean) => void; hint?: ComponentChildren; disabled?: boolean; name?: string }) {
  const id = useId()
  return (
    <div class="check">
      <input id={id} type="checkbox" name={props.name} checked={props.checked} disabled={props.disabled} onChange={(e) => props.onChange((e.currentTarget as HTMLInputElement).checked)} aria-describedby={props.hint ? `${id}-hint` : undefined} />
      <div class="check-text">
        <label for={id}>{props.label}</label>
        {props.hint && (
          <span class="hint" id={`${id}-hint`}>
            {props.hint}
          </span>
        )}
      </div>
    </div>
  )
}

export function ErrorNote(props: { children: ComponentChildren; id?: string }) {
  return (
    <p class="error-note" role="alert" id={props.id}>
      <span aria-hidden="true" class="error-icon">!</span>
      <span>{props.children}</span>
    </p>
  )
}

export function Notice(props: { kind?: 'info' | 'success' | 'warning'; children: ComponentChildren; role?: 'status' | 'alert' }) {
  return (
    <div class={`notice notice-${props.kind ?? 'info'}`} role={props.role ?? 'status'}>
      {props.children}
    </div>
  )
}

export function ProgressBar(props: { value: number | null; max?: number; label: string; detail?: ComponentChildren }) {
  const max = props.max ?? 1
  const pct = props.value === null ? null : Math.max(0, Math.min(100, (props.value / max) * 100))
  return (
    <div class="progress">
      <div class="progress-label">
        <span>{props.label}</span>
        <span>{pct === null ? '' : `${Math.floor(pct)}%`}</span>
      </div>
      <div
        class={`progress-track ${pct === null ? 'indeterminate' : ''}`}
        role="progressbar"
        aria-label={props.label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={pct === null ? undefined : Math.floor(pct)}
      >
        <div class="progress-fill" style={pct === null ? undefined : { width: `${pct}%` }} />
      </div>
      {props.detail && <div class="progress-detail">{props.detail}</div>}
    </div>
  )
}

export function Button(props: JSX.IntrinsicElements['button'] & { kind?: 'primary' | 'secondary' | 'danger' | 'ghost'; busy?: boolean }) {
  const { kind = 'secondary', busy, children, class: cls, disabled, ...rest } = props
  return (
    <button type="button" class={`btn btn-${kind} ${cls ?? ''}`} disabled={disabled || busy} aria-busy={busy ? 'true' : undefined} {...rest}>
      {busy && <span class="spinner" aria-hidden="true" />}
      {children}
    </button>
  )
}

export function Badge(props: { kind?: 'neutral' | 'good' | 'bad' | 'warn' | 'info'; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge badge-${props.kind ?? 'neutral'}`} title={props.title}>
      {props.children}
    </span>
  )
}

export function formatBytes(n: number | undefined): string {
  if (n === undefined || n === null || Number.isNaN(n)) return '—'
  if (n < 1024) return `${n} B`
  const units = ['KB', 'MB', 'GB', 'TB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`
}

export function formatCount(n: number | undefined): string {
  return n === undefined || n === null ? '—' : n.toLocaleString('en-US')
}

export function formatTime(iso: string | undefined): string {
  if (!iso) return '—'
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' })
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—'
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${s % 60} s`
  return `${Math.floor(m / 60)} h ${m % 60} min`
}

export function sum(values: Iterable<number>): number {
  let total = 0
  for (const v of values) total += v
  return total
}

/** "1 record", "3 records": a count with its noun. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`
}
