/**
 * The page: sign-in when no token is kept, otherwise the header (who is signed in, their role,
 * sign out), the banner of running jobs, the navigation and the current screen.
 */
import { createContext } from 'preact'
import { useCallback, useContext, useEffect, useRef, useState } from 'preact/hooks'
import { setUnauthorizedHandler } from '../api/client'
import { whoAmI, type Identity } from '../api/api'
import { clearToken, storedToken, storeToken } from '../session'
import { href, useRoute } from '../router'
import { SignIn, Logo } from './SignIn'
import { Button } from './base/ui'
import { screens } from './screens'
import { JobBanner } from './JobBanner'
import { ScheduleAlertBanner } from './ScheduleAlertBanner'

export interface Session {
  readonly who: Identity
  /** What the signed-in role may do, as the server said (or as its role implies). */
  readonly can: { readonly delete: boolean; readonly dropOnRestore: boolean }
}

export const SessionContext = createContext<Session | null>(null)

export function useSession(): Session {
  const session = useContext(SessionContext)
  if (!session) throw new Error('useSession outside a signed-in page')
  return session
}

function sessionFor(who: Identity): Session {
  const permissions = (who as Identity & { permissions?: readonly string[] }).permissions
  const superAdmin = who.role === 'super_admin'
  return {
    who,
    can: {
      delete: permissions ? permissions.includes('delete') : superAdmin,
      dropOnRestore: permissions ? permissions.includes('restore:drop') : superAdmin,
    },
  }
}

export function App() {
  const [session, setSession] = useState<Session | null>(null)
  const [checking, setChecking] = useState(() => storedToken() !== null)
  const [signedOutReason, setSignedOutReason] = useState<string | null>(null)
  const route = useRoute()
  // The sign-in form, and the field that had the focus, are gone once signed in. Without a new
  // focus the next Tab starts wherever the browser kept the old field's place, which depends on
  // how far the first screen has rendered. The content region takes the focus instead, as after
  // "Skip to content": Tab goes into the screen, Shift+Tab back to the sections.
  const focusContent = useRef(false)
  useEffect(() => {
    if (session && focusContent.current) {
      focusContent.current = false
      document.getElementById('main')?.focus()
    }
  }, [session])

  const signOut = useCallback((reason: string | null = null) => {
    clearToken()
    setSession(null)
    setSignedOutReason(reason)
  }, [])

  useEffect(() => {
    setUnauthorizedHandler(() => signOut('Your token is no longer accepted (revoked or expired). Sign in again.'))
    if (!storedToken()) return
    whoAmI()
      .then((who) => setSession(sessionFor(who)))
      .catch(() => clearToken())
      .finally(() => setChecking(false))
  }, [signOut])

  if (checking) return <main class="loading" aria-busy="true">Loading…</main>
  if (!session)
    return (
      <SignIn
        reason={signedOutReason}
        onSignedIn={(token, who) => {
          storeToken(token)
          setSignedOutReason(null)
          focusContent.current = true
          setSession(sessionFor(who))
        }}
      />
    )

  const screen = screens.find((s) => s.path === route.path) ?? screens[0]!
  const Screen = screen.component
  return (
    <SessionContext.Provider value={session}>
      <a class="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main')?.focus() }}>
        Skip to content
      </a>
      <header class="topbar">
        <a class="brand" href={href('/')}>
          <Logo />
          <span>mergeback</span>
          <span class="brand-sub">Backups</span>
        </a>
        <div class="who" aria-label="Signed in">
          <span class="who-name">{session.who.name}</span>
          <span class={`role role-${session.who.role}`} title={session.who.role === 'super_admin' ? 'May also delete backups and drop tables on restore' : 'May back up, restore and merge; not delete or drop'}>
            {session.who.role === 'super_admin' ? 'super admin' : 'admin'}
          </span>
          <Button kind="ghost" onClick={() => signOut(null)}>
            Sign out
          </Button>
        </div>
      </header>
      <nav class="tabs" aria-label="Sections">
        {screens
          .filter((s) => s.nav)
          .map((s) => (
            <a key={s.path} href={href(s.path)} class={`tab ${s === screen ? 'active' : ''}`} aria-current={s === screen ? 'page' : undefined}>
              {s.nav}
            </a>
          ))}
      </nav>
      <ScheduleAlertBanner />
      <JobBanner />
      <main id="main" tabIndex={-1} class="content">
        <Screen params={route.params} />
      </main>
    </SessionContext.Provider>
  )
}
