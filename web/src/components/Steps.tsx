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
