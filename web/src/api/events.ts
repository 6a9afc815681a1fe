/**
 * Server-sent events read with fetch, not EventSource: EventSource cannot send the
 * Authorization header, and a token in the URL would end up in access logs. The parser follows
 * the SSE wire format (fields `event:`, `data:`, `id:`, a blank line ends an event).
 */
import { authHeaders, errorFrom } from './client'

export interface ServerEvent {
  readonly event: string
  readonly data: string
  readonly id?: string
}

/** Calls `onEvent` for each event until the stream ends or `signal` aborts. */
export async function readEvents(path: string, onEvent: (e: ServerEvent) => void, signal: AbortSignal): Promise<void> {
  const response = await fetch(path, { headers: { accept: 'text/event-stream', ...authHeaders() }, signal })
  if (!response.ok || !response.body) throw await errorFrom(response)
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  let event = 'message'
  let data: string[] = []
  let id: string | undefined
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += value
    let nl: number
    while ((nl = buffer.search(/\r\n|\n|\r/)) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(buffer[nl] === '\r' && buffer[nl + 1] === '\n' ? nl + 2 : nl + 1)
      if (line === '') {
        if (data.length > 0) onEvent({ event, data: data.join('\n'), id })
        event = 'message'
        data = []
        continue
      }
      if (line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon < 0 ? line : line.slice(0, colon)
      const v = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
      if (field === 'event') event = v
      else if (field === 'data') data.push(v)
      else if (field === 'id') id = v
    }
  }
}
