/**
 * The audit log: `audit.jsonl` in the backup directory, one JSON object per line, hash-chained
 * (DESIGN.md §7, docs/storage.md §Audit log).
 *
 * Each line is written as
 *     body = JSON.stringify({ seq, time, actor, action, …, prev })
 *     hash = hex SHA-256 of body's UTF-8 bytes
 *     line = body without its closing '}' + ',"hash":"<hash>"}' + '\n'
 * where `prev` is the previous entry's `hash` (64 zeros for the first) and `seq` counts from 1.
 * Hashing the exact bytes written (not a re-serialisation) means a verifier needs no canonical
 * JSON. Editing a line breaks its own hash; removing, inserting or reordering lines breaks the
 * next line's `prev` (and `seq`). Cutting entries off the END is not detectable from the file
 * alone, so each append also records the new head (`{"seq","hash"}` of the last entry) in
 * `audit.head` beside the log, replaced atomically (temporary file, fsync, rename) while the lock
 * is held, and each backup's sidecar records the head at the time it was written
 * (`auditHead`). `verifyAudit` compares both with the log: a log that ends before a recorded
 * head, or whose entry at that seq has another hash, fails. A crash between the log's fsync and
 * the head's rename leaves the head one entry behind, which is not a failure.
 *
 * Appending: take `audit.jsonl.lock` (created exclusively; a lock left by a dead process is
 * broken), read the last entry, write the new line with ONE write on an O_APPEND descriptor,
 * fdatasync, release. Concurrent appenders from any number of processes therefore chain
 * correctly. A line torn by a crash stays in the file (verify reports it) and the next entry
 * starts on a new line and chains to the last intact entry.
 */
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { createHash, randomBytes } from 'node:crypto'
import { UsageError } from '../errors.js'

export const AUDIT_FILE = 'audit.jsonl'
export const AUDIT_LOCK_FILE = 'audit.jsonl.lock'
/** The head of the chain (`{"seq","hash"}` of the last entry), rewritten atomically with each append. */
export const AUDIT_HEAD_FILE = 'audit.head'
/** `prev` of the first entry. */
export const GENESIS_HASH = '0'.repeat(64)

export type AuditAction = 'backup' | 'restore' | 'merge' | 'delete' | 'prune' | 'upload' | 'download' | 'analyze' | 'verify' | 'auth' | 'reseal' | 'recover'
export type AuditOutcome = 'success' | 'failure' | 'dry-run' | 'refused'

/** What a caller reports. */
export interface AuditEntryInput {
  readonly action: AuditAction
  /** Who: the OS user for the CLI (the default), the token's name for the API. */
  readonly actor?: string
  /** The client's network address (API requests). */
  readonly client?: string
  /** What was acted on: a database URL (passwords are removed here in any case), a backup file, a directory. */
  readonly target?: string
  readonly options?: unknown
  readonly outcome: AuditOutcome
  readonly counts?: unknown
  readonly durationMs?: number
  /** The error message when the outcome is failure or refused. */
  readonly error?: string
  /** The backup file involved, if any. */
  readonly file?: string
  /** Several files (prune lists what it removed). */
  readonly files?: readonly string[]
}

/** An entry as stored. */
export interface AuditEntry extends AuditEntryInput {
  readonly seq: number
  /** ISO-8601 UTC. */
  readonly time: string
  readonly actor: string
  readonly prev: string
  readonly hash: string
}

const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/
const LOCK_WAIT_MS = 10_000
/** An append holds the lock for milliseconds; a lock this old belongs to a process that died. */
const LOCK_STALE_MS = 30_000
/** A lock file without its owner's line this long after it was made is torn (see breakStaleLock). */
const TORN_LOCK_MS = 1_000

/** The OS user running this process (falls back to $USER, then the uid, in containers without a passwd entry). */
export function defaultActor(): string {
  try {
    return os.userInfo().username
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? `uid:${process.getuid?.() ?? 'unknown'}`
  }
}

const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):([^@/?#\s]*)@/gi

/** Removes passwords from any URL inside strings, however deep (a last line of defence: callers redact first). */
function redactDeep(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(URL_PASSWORD, '$1:***@')
  if (Array.isArray(value)) return value.map(redactDeep)
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)]))
  return value
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/** Splits a stored line into its hashed body and its hash; undefined when it does not have the shape. */
function splitLine(line: string): { body: string; hash: string } | undefined {
  const match = HASH_SUFFIX.exec(line)
  if (!match) return undefined
  return { body: `${line.slice(0, match.index)}}`, hash: match[1] as string }
}

/** Parses a line; undefined unless it is a well-formed, self-consistent entry (its hash matches its body). */
function parseIntact(line: string): AuditEntry | undefined {
  const parts = splitLine(line)
  if (!parts || sha256(parts.body) !== parts.hash) return undefined
  try {
    const entry = JSON.parse(line) as AuditEntry
    return typeof entry.seq === 'number' && typeof entry.prev === 'string' ? entry : undefined
  } catch {
    return undefined
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

interface LockOwner {
  readonly pid: number
  readonly host: string
  readonly since: number
  readonly token: string
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Removes the lock if its owner is gone (same host, dead pid) or it is older than LOCK_STALE_MS. */
async function breakStaleLock(lockPath: string): Promise<boolean> {
  let text: string
  let mtimeMs: number
  try {
    text = await fs.readFile(lockPath, 'utf8')
    mtimeMs = (await fs.stat(lockPath)).mtimeMs
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true
    throw error
  }
  let owner: Partial<LockOwner> = {}
  try {
    owner = JSON.parse(text) as LockOwner
  } catch {
    // A lock file torn by a crash between its creation and its write (empty or cut short).
  }
  const deadHere = owner.host === os.hostname() && typeof owner.pid === 'number' && !isAlive(owner.pid)
  const age = Date.now() - mtimeMs
  // Its owner writes the few bytes right after creating it, so a lock still without them a
  // second later was torn by a crash: waiting LOCK_STALE_MS for it would make the next command
  // fail as "locked" (a CI run killing writers at random moments found it).
  const torn = typeof owner.pid !== 'number' && age > TORN_LOCK_MS
  if (!deadHere && !torn && age <= LOCK_STALE_MS) return false
  // Rename first so that of several processes breaking the same lock, exactly one succeeds.
  const aside = `${lockPath}.stale-${randomBytes(6).toString('hex')}`
  try {
    await fs.rename(lockPath, aside)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true
    throw error
  }
  await fs.rm(aside, { force: true })
  return true
}

async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lockPath = path.join(dir, AUDIT_LOCK_FILE)
  const owner: LockOwner = { pid: process.pid, host: os.hostname(), since: Date.now(), token: randomBytes(8).toString('hex') }
  const deadline = Date.now() + LOCK_WAIT_MS
  for (;;) {
    try {
      await fs.writeFile(lockPath, JSON.stringify(owner), { flag: 'wx', mode: 0o600 })
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    if (await breakStaleLock(lockPath)) continue
    if (Date.now() > deadline) {
      throw new UsageError(`The audit log in ${dir} is locked by another process; if no mergeback is running, remove ${lockPath}.`, { code: 'AUDIT_LOCKED' })
    }
    await sleep(5 + Math.random() * 20)
  }
  try {
    return await fn()
  } finally {
    await fs.rm(lockPath, { force: true })
  }
}

/**
 * The last intact entry of the log, and whether the file ends with a newline. Reads a window at
 * the end, doubling it until an intact line is found: usually one 64 KiB read, whatever the log's size.
 */
async function lastEntry(file: string): Promise<{ entry?: AuditEntry; endsWithNewline: boolean }> {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { endsWithNewline: true }
    throw error
  }
  try {
    const size = (await handle.stat()).size
    if (size === 0) return { endsWithNewline: true }
    for (let window = 64 * 1024; ; window *= 2) {
      const start = Math.max(0, size - window)
      const buffer = Buffer.alloc(size - start)
      await handle.read(buffer, 0, buffer.length, start)
      const endsWithNewline = buffer[buffer.length - 1] === 0x0a
      const lines = buffer.toString('utf8').split('\n')
      // Unless the window reaches the start of the file, its first line may be cut: skip it.
      const first = start === 0 ? 0 : 1
      for (let i = lines.length - 1; i >= first; i--) {
        const entry = lines[i] ? parseIntact(lines[i] as string) : undefined
        if (entry) return { entry, endsWithNewline }
      }
      if (start === 0) return { endsWithNewline }
    }
  } finally {
    await handle.close()
  }
}

/**
 * Appends one entry to `<dir>/audit.jsonl` (creating the directory and the file, mode 0600, as
 * needed). `actor` defaults to the OS user; passwords in URLs anywhere in the entry are replaced
 * by `***`. Safe against concurrent appends from other processes (see the module header).
 * Resolves once the line is on disk. Throws UsageError when the lock cannot be taken in 10 s.
 */
export async function appendAudit(dir: string, input: AuditEntryInput): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 })
  const file = path.join(dir, AUDIT_FILE)
  await withLock(dir, async () => {
    const last = await lastEntry(file)
    const fields = redactDeep({
      seq: (last.entry?.seq ?? 0) + 1,
      time: new Date().toISOString(),
      actor: input.actor ?? defaultActor(),
      client: input.client,
      action: input.action,
      target: input.target,
      file: input.file,
      files: input.files,
      options: input.options,
      outcome: input.outcome,
      counts: input.counts,
      durationMs: input.durationMs,
      error: input.error,
      prev: last.entry?.hash ?? GENESIS_HASH,
    })
    const body = JSON.stringify(fields)
    const line = `${last.endsWithNewline ? '' : '\n'}${body.slice(0, -1)},"hash":"${sha256(body)}"}\n`
    const handle = await fs.open(file, 'a', 0o600)
    try {
      // One write on an O_APPEND descriptor: the line lands whole at the end of the file.
      await handle.write(line)
      await handle.datasync()
    } finally {
      await handle.close()
    }
    // Only once the entry is durable: the head may lag the log (a crash here), never lead it.
    // A head that shows the log was cut (it is past the log's end, or disagrees with the entry
    // it names) is kept as it is: overwriting it would erase the evidence verify reports.
    const recorded = await readAuditHead(dir)
    const lastSeq = last.entry?.seq ?? 0
    const cut = recorded === 'damaged' || (recorded !== undefined && (recorded.seq > lastSeq || (recorded.seq === lastSeq && lastSeq > 0 && recorded.hash !== last.entry?.hash)))
    if (!cut) await writeAuditHead(dir, { seq: lastSeq + 1, hash: sha256(body) })
  })
}

/** Where the chain ended when it was last appended to (or when a backup's sidecar was written). */
export interface AuditHead {
  readonly seq: number
  readonly hash: string
}

function isAuditHead(value: unknown): value is AuditHead {
  const v = value as Partial<AuditHead> | null
  return typeof v === 'object' && v !== null && Number.isSafeInteger(v.seq) && (v.seq as number) >= 0 && typeof v.hash === 'string' && /^[0-9a-f]{64}$/.test(v.hash)
}

/** Replaces `audit.head` atomically: temporary file in the same directory, fsync, rename. */
async function writeAuditHead(dir: string, head: AuditHead): Promise<void> {
  const final = path.join(dir, AUDIT_HEAD_FILE)
  const temp = `${final}.tmp-${randomBytes(6).toString('hex')}`
  try {
    const handle = await fs.open(temp, 'wx', 0o600)
    try {
      await handle.write(`${JSON.stringify({ seq: head.seq, hash: head.hash })}\n`)
      await handle.datasync()
    } finally {
      await handle.close()
    }
    await fs.rename(temp, final)
  } catch (error) {
    await fs.rm(temp, { force: true })
    throw error
  }
}

/**
 * The head recorded in `audit.head`: undefined when there is no such file (a log written before
 * mergeback kept one), 'damaged' when it is not a head.
 */
export async function readAuditHead(dir: string): Promise<AuditHead | 'damaged' | undefined> {
  let text: string
  try {
    text = await fs.readFile(path.join(dir, AUDIT_HEAD_FILE), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  try {
    const parsed: unknown = JSON.parse(text)
    return isAuditHead(parsed) ? { seq: parsed.seq, hash: parsed.hash } : 'damaged'
  } catch {
    return 'damaged'
  }
}

/** The heads recorded in the sidecars (`*.meta.json`) of the directory, by sidecar file name. */
async function sidecarHeads(dir: string): Promise<{ file: string; head: AuditHead }[]> {
  let names: string[]
  try {
    names = await fs.readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return []
    throw error
  }
  const out: { file: string; head: AuditHead }[] = []
  for (const name of names.filter((n) => n.endsWith('.meta.json')).sort()) {
    try {
      const parsed = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as { auditHead?: unknown }
      if (isAuditHead(parsed.auditHead)) out.push({ file: name, head: parsed.auditHead })
    } catch {
      // An unreadable sidecar is the catalog's business (list/verify report it), not the log's.
    }
  }
  return out
}

/** Every entry of the log, oldest first, with the 1-based line numbers of lines that are not intact entries. */
export async function readAudit(dir: string): Promise<{ entries: AuditEntry[]; damagedLines: number[] }> {
  const lines = await readLines(dir)
  const entries: AuditEntry[] = []
  const damagedLines: number[] = []
  lines.forEach((line, i) => {
    const entry = parseIntact(line)
    if (entry) entries.push(entry)
    else damagedLines.push(i + 1)
  })
  return { entries, damagedLines }
}

async function readLines(dir: string): Promise<string[]> {
  let text: string
  try {
    text = await fs.readFile(path.join(dir, AUDIT_FILE), 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return lines
}

export interface AuditProblem {
  /** 1-based line number in audit.jsonl. */
  readonly line: number
  readonly problem: string
}

export interface AuditVerification {
  readonly ok: boolean
  readonly entries: number
  /** Hash of the last intact entry (GENESIS_HASH for an empty log): record it elsewhere to detect cuts at the end later. */
  readonly head: string
  readonly problems: readonly AuditProblem[]
  /** Things that do not fail the check but limit it (no audit.head yet: a cut at the end would go unseen). */
  readonly warnings: readonly string[]
}

/**
 * Checks the whole chain. Reports, by line: a line that is not an entry (torn or mangled), an
 * edited entry (hash mismatch), and a break in the chain (entries removed, inserted or reordered
 * before that line; `seq` tells how many are missing). After a problem the check continues from
 * that line, so one removal is one problem, not a cascade. A missing log is an empty, valid one.
 */
export async function verifyAudit(dir: string): Promise<AuditVerification> {
  const lines = await readLines(dir)
  const problems: AuditProblem[] = []
  let prevHash = GENESIS_HASH
  let prevSeq = 0
  let entries = 0
  const hashes = new Map<number, string>()
  lines.forEach((text, i) => {
    const line = i + 1
    const parts = splitLine(text)
    let entry: AuditEntry | undefined
    try {
      entry = parts ? (JSON.parse(text) as AuditEntry) : undefined
    } catch {
      entry = undefined
    }
    if (!parts || !entry || typeof entry.seq !== 'number' || typeof entry.prev !== 'string') {
      problems.push({ line, problem: text.trim() === '' ? 'blank line' : 'not an audit entry (damaged, or cut short by a crash)' })
      return
    }
    entries += 1
    if (sha256(parts.body) !== parts.hash) problems.push({ line, problem: `entry ${entry.seq} was edited: its hash does not match its content` })
    if (entry.prev !== prevHash) {
      const expected = prevSeq + 1
      const why =
        entry.seq > expected
          ? `${entry.seq - 1 > expected ? `entries ${expected}–${entry.seq - 1} are` : `entry ${expected} is`} missing before it`
          : entry.seq <= prevSeq
            ? `it is out of order or repeated (seq ${entry.seq} after ${prevSeq})`
            : 'an entry was inserted, replaced or edited before it'
      problems.push({ line, problem: `the chain breaks at entry ${entry.seq}: ${why}` })
    }
    prevHash = parts.hash
    prevSeq = entry.seq
    hashes.set(entry.seq, parts.hash)
  })
  const warnings: string[] = []
  const end = lines.length + 1
  /** Checks one recorded head against the log; `where` names the record. */
  const checkHead = (head: AuditHead, where: string): void => {
    if (head.seq > prevSeq) {
      const missing = head.seq - prevSeq
      problems.push({
        line: end,
        problem: `the log ends at entry ${prevSeq}, but ${where} records entry ${head.seq}: the last ${missing === 1 ? 'entry was' : `${missing} entries were`} removed`,
      })
      return
    }
    if (head.seq === 0) return
    const found = hashes.get(head.seq)
    if (found !== head.hash) {
      problems.push({
        line: end,
        problem: `${where} records entry ${head.seq} with hash ${head.hash.slice(0, 12)}…, but the log's entry ${head.seq} ${found ? `has hash ${found.slice(0, 12)}…` : 'is missing'}: the end of the log was rewritten (or ${where} was)`,
      })
    }
  }
  const head = await readAuditHead(dir)
  if (head === 'damaged') problems.push({ line: end, problem: `${AUDIT_HEAD_FILE} is damaged (not a {"seq","hash"} record): the end of the log cannot be checked` })
  else if (head === undefined) {
    if (entries > 0) {
      warnings.push(
        `There is no ${AUDIT_HEAD_FILE} beside the log (it was written before mergeback recorded its head): removal of the last entries cannot be detected until the next entry is appended.`,
      )
    }
  } else {
    checkHead(head, AUDIT_HEAD_FILE)
    if (head.seq < prevSeq - 1) warnings.push(`${AUDIT_HEAD_FILE} records entry ${head.seq}, ${prevSeq - head.seq} entries behind the log's end (an older copy put back?).`)
  }
  for (const { file, head: recorded } of await sidecarHeads(dir)) checkHead(recorded, `the sidecar ${file}`)
  return { ok: problems.length === 0, entries, head: prevHash, problems, warnings }
}
