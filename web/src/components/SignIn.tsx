/**
 * Sign-in: a person pastes a bearer token (made with `mergeback token create`). The token is
 * checked with the server before it is kept, so a wrong one is refused right under the field.
 */
import { useState } from 'preact/hooks'
import { ApiError } from '../api/client'
import { whoAmI, type Identity } from '../api/api'
import { Button, Field, Notice } from './base/ui'

export function SignIn(props: { onSignedIn: (token: string, who: Identity) => void; reason?: string | null }) {
  const [token, setToken] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const submit = async (e: Event) => {
    e.preventDefault()
    const value = token.trim()
    if (!value) {
      setError('Paste an access token to sign in.')
      return
    }
    setBusy(true)
    setError(null)
    try {
      const who = await whoAmI(value)
      props.onSignedIn(value, who)
    } catch (err) {
      const e = err as ApiError
      setError(e.status === 401 || e.status === 403 ? 'This token is not accepted by the server: it may be mistyped, revoked, or for another server.' : e.message)
      setBusy(false)
    }
  }

  return (
    <main class="signin" id="main">
      <form class="signin-card" onSubmit={submit} aria-labelledby="signin-title" noValidate>
        <div class="brand brand-large">
          <Logo />
          <span>mergeback</span>
        </div>
        <h1 id="signin-title">Sign in to Backups</h1>
        <p class="muted">Back up, restore and smart-merge this application's database.</p>
        {props.reason && <Notice kind="warning">{props.reason}</Notice>}
        <Field
          label="Access token"
          error={error}
          hint={
            <>
              Create one on the server with <code>mergeback token create --name you --role admin</code>. It is kept in this tab only until you sign out.
            </>
          }
        >
          {(id, describedBy) => (
            <input
              id={id}
              name="token"
              class="input mono"
              type="password"
              autoComplete="off"
              spellcheck={false}
              value={token}
              aria-describedby={describedBy}
              aria-invalid={error ? 'true' : undefined}
              onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)}
              autoFocus
            />
          )}
        </Field>
        <Button type="submit" kind="primary" busy={busy} class="btn-block">
          Sign in
        </Button>
      </form>
    </main>
  )
}

export function Logo() {
  return (
    <svg class="logo" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">
      <rect x="3" y="5" width="26" height="7" rx="2.5" fill="currentColor" opacity="0.45" />
      <rect x="3" y="14" width="26" height="7" rx="2.5" fill="currentColor" opacity="0.7" />
      <path d="M9 23.5h14l-7 5.5z" fill="currentColor" />
    </svg>
  )
}
