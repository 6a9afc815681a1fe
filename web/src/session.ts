/**
 * The signed-in token. Kept in sessionStorage (per tab, gone when the tab closes), never in
 * localStorage or a cookie; "Sign out" removes it.
 */
const KEY = 'mergeback.token'

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(KEY)
  } catch {
    return null
  }
}

export function storeToken(token: string): void {
  sessionStorage.setItem(KEY, token)
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY)
}
