/**
 * Failure alerts by webhook: a JSON POST to the schedule's URL, retried with exponential
 * back-off (1 s, 2 s, 4 s, 8 s by default) until a 2xx answer or the attempts run out. The
 * scheduler starts it and does not wait for it, so a slow or dead receiver never delays the
 * next run. The payload carries mergeback's own error message (passwords and credentials are
 * never in those) and no configuration beyond the schedule's id and name.
 */

export interface AlertPayload {
  readonly event: 'schedule.failed'
  readonly schedule: { readonly id: string; readonly name: string }
  readonly dueAt?: string
  readonly startedAt: string
  readonly finishedAt: string
  readonly error: string
  readonly host: string
}

export interface AlertDelivery {
  readonly delivered: boolean
  readonly attempts: number
  /** The last failure (HTTP status or network error), when not delivered. */
  readonly lastError?: string
}

export interface AlertOptions {
  readonly attempts?: number
  /** First retry delay; doubles each time. */
  readonly baseDelayMs?: number
  /** Per attempt. */
  readonly timeoutMs?: number
  readonly sleep?: (ms: number) => Promise<void>
  /** Stops retrying (the scheduler stops). */
  readonly signal?: AbortSignal
}

/** POSTs `payload` to `url` with retries (see the module header). Never throws. */
export async function postAlert(url: string, payload: AlertPayload, options: AlertOptions = {}): Promise<AlertDelivery> {
  const attempts = options.attempts ?? 5
  const base = options.baseDelayMs ?? 1000
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref()))
  let lastError: string | undefined
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (options.signal?.aborted) break
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'mergeback' },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        redirect: 'error',
      })
      await response.body?.cancel().catch(() => undefined)
      if (response.ok) return { delivered: true, attempts: attempt }
      lastError = `HTTP ${response.status}`
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause
      lastError = (error as Error).name === 'TimeoutError' ? 'timed out' : (cause?.code ?? cause?.message ?? (error as Error).message)
    }
    if (attempt < attempts) await sleep(base * 2 ** (attempt - 1))
  }
  return { delivered: false, attempts, lastError }
}
