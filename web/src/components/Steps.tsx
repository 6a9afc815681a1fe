/**
 * What the merge and restore wizards share: the page head with the step indicator (done steps are
 * buttons that go back to them, not while something runs), and the "chosen backup / Change" line
 * that opens every step after the first.
 */
import type { ComponentChildren } from 'preact'
import { Button } from './base/ui'

/** A wizard's step indicator; done steps are buttons that go back to them. */
export function Steps(props: { steps: readonly string[]; current: number; onGo: (i: number) => void }) {
  return (
    <ol class="steps" aria-label="Steps">
      {props.steps.map((s, i) => (
        <li key={s} class={i < props.current ? 'done' : i === props.current ? 'current' : ''} aria-current={i === props.current ? 'step' : undefined}>
          {i < props.current ? (
            <button type="button" class="btn-link step-link" onClick={() => props.onGo(i)}>
              {s}
            </button>
          ) : (
            s
          )}
        </li>
      ))}
    </ol>
  )
}

/** A wizard's title, what it does, and its steps; going back is refused while `busy`. */
export function WizardHeader(props: { title: string; intro: ComponentChildren; steps: readonly string[]; current: number; busy: boolean; onGo: (i: number) => void }) {
  return (
    <>
      <div class="page-head">
        <div>
          <h1>{props.title}</h1>
          <p class="muted">{props.intro}</p>
        </div>
      </div>
      <Steps steps={props.steps} current={props.current} onGo={(i) => !props.busy && i < props.current && props.onGo(i)} />
    </>
  )
}

/** "Backup: <file> [Change]" at the top of the steps after the choice; Change goes back to it. */
export function ChosenBackup(props: { file: string; onChange: () => void; disabled?: boolean }) {
  return (
    <p class="chosen-backup">
      Backup: <strong class="mono">{props.file}</strong>{' '}
      <Button class="btn-small btn-ghost" onClick={props.onChange} disabled={props.disabled} aria-label={`Change the backup (${props.file})`}>
        Change
      </Button>
    </p>
  )
}
