/**
 * The confirm pattern for anything destructive (STYLE.md §1.8, after PocketBase): a modal dialog
 * that says what will happen; when `typeToConfirm` is given the person types that word (a backup
 * or database name) and the button stays disabled until it matches; while the action runs the
 * dialog cannot be closed, and its error is shown inside it.
 */
import type { ComponentChildren } from 'preact'
import { useEffect, useId, useRef, useState } from 'preact/hooks'
import { Button, ErrorNote } from './ui'

export interface ConfirmDialogProps {
  readonly title: string
  readonly children: ComponentChildren
  readonly confirmLabel: string
  readonly danger?: boolean
  readonly typeToConfirm?: string
  /** Runs the action; a thrown error is shown in the dialog, which stays open. */
  readonly onConfirm: () => Promise<void> | void
  readonly onClose: () => void
}

export function ConfirmDialog(props: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null)
  const [typed, setTyped] = useState('')
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const id = useId()

  useEffect(() => {
    const dialog = ref.current
    if (dialog && !dialog.open) dialog.showModal()
  }, [])

  const matches = props.typeToConfirm === undefined || typed === props.typeToConfirm
  const close = () => {
    if (!busy) props.onClose()
  }
  const confirm = async (e: Event) => {
    e.preventDefault()
    if (!matches || busy) return
    setBusy(true)
    setError(null)
    try {
      await props.onConfirm()
      props.onClose()
    } catch (err) {
      setError((err as Error).message)
      setBusy(false)
    }
  }

  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby={`${id}-title`}
      onCancel={(e) => {
        // Esc closes, except while the action runs.
        e.preventDefault()
        close()
      }}
    >
      <form method="dialog" onSubmit={confirm}>
        <h2 id={`${id}-title`}>{props.title}</h2>
        <div class="dialog-body">{props.children}</div>
        {props.typeToConfirm !== undefined && (
          <div class="field">
            <label for={`${id}-typed`}>
              Type <strong class="mono">{props.typeToConfirm}</strong> to confirm
            </label>
            <input
              id={`${id}-typed`}
              class="input mono"
              autoComplete="off"
              spellcheck={false}
              value={typed}
              disabled={busy}
              onInput={(e) => setTyped((e.currentTarget as HTMLInputElement).value)}
              autoFocus
            />
          </div>
        )}
        {error && <ErrorNote>{error}</ErrorNote>}
        <div class="dialog-actions">
          <Button onClick={close} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" kind={props.danger ? 'danger' : 'primary'} disabled={!matches} busy={busy}>
            {props.confirmLabel}
          </Button>
        </div>
      </form>
    </dialog>
  )
}
