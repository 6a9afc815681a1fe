/**
 * What a backup without a catalog sidecar says about itself (issue #14 item 11): a hand-made file
 * or one copied in carries its own name and time in its `metadata` object, and `list` should show
 * those rather than its file name and modification time.
 *
 * Cheap by design (docs/storage.md §Catalog): only a plain (not gzip, not encrypted) file is
 * looked at, and only its first and last PEEK_BYTES. The metadata is where the layouts put it:
 * first in the mongo-native layout (`{"metadata": {...}, "collections": ...}`), last in ours and
 * the Smart Backup one (`..., "metadata": {...}}`). Anything that does not parse cleanly gives
 * undefined, and the caller falls back to the file name and modification time.
 */
import fs from 'node:fs/promises'

export const PEEK_BYTES = 64 * 1024

/** The facts `list` takes from a file's own metadata; each is present only when the file has it. */
export interface PeekedMetadata {
  readonly name?: string
  readonly createdAt?: string
  readonly description?: string
  readonly engine?: string
  readonly database?: string
  readonly tables?: readonly string[]
  readonly recordCounts?: Readonly<Record<string, number>>
}

/** Reads a plain file's own metadata from its first or last bytes; undefined when not found. */
export async function peekMetadata(file: string, sizeBytes: number): Promise<PeekedMetadata | undefined> {
  const handle = await fs.open(file, 'r')
  try {
    const headLength = Math.min(sizeBytes, PEEK_BYTES)
    const head = (await handle.read(Buffer.alloc(headLength), 0, headLength, 0)).buffer.toString('utf8')
    const first = metadataAtDepthOne(head)
    if (first) return facts(first)
    const tailStart = Math.max(0, sizeBytes - PEEK_BYTES)
    const tail = tailStart === 0 ? head : (await handle.read(Buffer.alloc(sizeBytes - tailStart), 0, sizeBytes - tailStart, tailStart)).buffer.toString('utf8')
    const last = lastMetadata(tail)
    return last ? facts(last) : undefined
  } catch {
    return undefined
  } finally {
    await handle.close()
  }
}

/** From a parsed metadata object: the name, time and the other facts `list` shows. */
export function facts(metadata: Record<string, unknown>): PeekedMetadata | undefined {
  const text = (key: string): string | undefined => (typeof metadata[key] === 'string' && (metadata[key] as string).trim() !== '' ? (metadata[key] as string) : undefined)
  const name = text('backupName') ?? text('name')
  const time = [text('exportedAt'), text('timestamp'), text('createdAt')].find((t) => t !== undefined && !Number.isNaN(Date.parse(t)))
  const tables = Array.isArray(metadata.tables) && metadata.tables.every((t) => typeof t === 'string') ? (metadata.tables as string[]) : undefined
  const collections = Array.isArray(metadata.collections) && metadata.collections.every((t) => typeof t === 'string') ? (metadata.collections as string[]) : undefined
  const counts = metadata.recordCounts
  const recordCounts =
    typeof counts === 'object' && counts !== null && !Array.isArray(counts) && Object.values(counts).every((n) => Number.isSafeInteger(n))
      ? (counts as Record<string, number>)
      : undefined
  const out: PeekedMetadata = {
    ...(name ? { name } : {}),
    ...(time ? { createdAt: new Date(time).toISOString() } : {}),
    ...(text('description') ? { description: text('description') } : {}),
    ...(text('engine') ? { engine: text('engine') } : {}),
    ...(text('database') ? { database: text('database') } : {}),
    ...(tables ?? collections ? { tables: tables ?? collections } : {}),
    ...(recordCounts ? { recordCounts } : {}),
  }
  return Object.keys(out).length > 0 ? out : undefined
}

/**
 * The text of the JSON value starting at `start` (an object or array), or undefined when `text`
 * ends first. Strings are skipped with their escapes, so braces inside them do not count.
 */
function valueEnd(text: string, start: number): number | undefined {
  let depth = 0
  for (let i = start; i < text.length; i++) {
    const c = text[i]
    if (c === '"') {
      i++
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1
      if (i >= text.length) return undefined
    } else if (c === '{' || c === '[') depth++
    else if (c === '}' || c === ']') {
      depth--
      if (depth === 0) return i + 1
    }
  }
  return undefined
}

function parseObjectAt(text: string, start: number): Record<string, unknown> | undefined {
  if (text[start] !== '{') return undefined
  const end = valueEnd(text, start)
  if (end === undefined) return undefined
  try {
    const value: unknown = JSON.parse(text.slice(start, end))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** The `"metadata"` member of the top-level object, when the head reaches it before anything deeper. */
function metadataAtDepthOne(head: string): Record<string, unknown> | undefined {
  let depth = 0
  for (let i = 0; i < head.length; i++) {
    const c = head[i]
    if (c === '"') {
      const from = i
      i++
      while (i < head.length && head[i] !== '"') i += head[i] === '\\' ? 2 : 1
      if (i >= head.length) return undefined
      if (depth !== 1) continue
      let j = i + 1
      while (/\s/.test(head[j] ?? '')) j++
      if (head[j] !== ':') continue
      if (head.slice(from, i + 1) !== '"metadata"') continue
      j++
      while (/\s/.test(head[j] ?? '')) j++
      return parseObjectAt(head, j)
    } else if (c === '{' || c === '[') depth++
    else if (c === '}' || c === ']') depth--
  }
  return undefined
}

/** The `"metadata"` member that closes the document: `"metadata": {...}` then only `}` and space. */
function lastMetadata(tail: string): Record<string, unknown> | undefined {
  const pattern = /"metadata"\s*:\s*\{/g
  let found: Record<string, unknown> | undefined
  for (let match = pattern.exec(tail); match !== null; match = pattern.exec(tail)) {
    const start = match.index + match[0].length - 1
    const end = valueEnd(tail, start)
    if (end === undefined) continue
    if (!/^\s*\}\s*$/.test(tail.slice(end))) continue
    found = parseObjectAt(tail, start)
  }
  return found
}
