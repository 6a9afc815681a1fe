/**
 * Turning a name a user gave into a path inside the backup directory, safely (DESIGN.md §7).
 *
 * The HTTP API and the CLI hand user text straight to this module, so it refuses before touching
 * the filesystem: NUL and control characters, path separators ('/' and '\'), '.' and '..',
 * absolute paths, and percent-encoded text ("%2e%2e%2f" must not become "../" in some later
 * decoding step). A name that passes is a single path component, so `dir/<name>` cannot leave
 * `dir` — except through a symbolic link, which is why an existing entry is resolved with
 * realpath and refused when its target lies outside the (real) backup directory.
 */
import fs from 'node:fs'
import path from 'node:path'
import { UsageError } from '../errors.js'
import { parseBackupFileName } from './naming.js'

function refuse(ref: string, why: string): never {
  throw new UsageError(`Refused backup name ${JSON.stringify(ref)}: ${why}.`, { code: 'UNSAFE_PATH' })
}

/** Throws UsageError unless `ref` is a plain file name (one path component, printable, not encoded). */
export function checkPlainFileName(ref: string): void {
  if (ref.length === 0) refuse(ref, 'it is empty')
  if (ref.includes('\0')) refuse(ref, 'it contains a NUL byte')
  if (/[\u0001-\u001f\u007f]/.test(ref)) refuse(ref, 'it contains control characters')
  if (ref.includes('/') || ref.includes('\\') || path.isAbsolute(ref)) refuse(ref, 'it is a path, not a name inside the backup directory')
  if (ref === '.' || ref === '..') refuse(ref, 'it names a directory')
  if (/%[0-9a-f]{2}/i.test(ref)) refuse(ref, 'it contains percent-encoded characters')
}

/**
 * Throws UsageError when `candidate` (a path inside `root`) is a symbolic link, or a link chain,
 * whose target is outside `root` or does not exist. Non-existing candidates pass.
 */
export function confineToDirectory(root: string, candidate: string): void {
  let stat: fs.Stats
  try {
    stat = fs.lstatSync(candidate)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  if (!stat.isSymbolicLink()) return
  let target: string
  try {
    target = fs.realpathSync(candidate)
  } catch {
    refuse(path.basename(candidate), 'it is a symbolic link to nothing')
  }
  const realRoot = fs.realpathSync(root)
  const relative = path.relative(realRoot, target)
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) {
    refuse(path.basename(candidate), 'it is a symbolic link leading out of the backup directory')
  }
}

/** The newest backup file in `dir` whose name part is `name`, or undefined. */
export function newestBackupNamed(dir: string, name: string): string | undefined {
  let entries: string[]
  try {
    entries = fs.readdirSync(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined
    throw error
  }
  let best: { file: string; time: number } | undefined
  for (const file of entries) {
    const parsed = parseBackupFileName(file)
    if (!parsed || parsed.name !== name) continue
    const time = parsed.createdAt.getTime()
    // Same second: the later file name (e.g. .json.gz after .json) wins, so the answer is stable.
    if (!best || time > best.time || (time === best.time && file > best.file)) best = { file, time }
  }
  return best ? path.join(dir, best.file) : undefined
}

/**
 * Resolves a user-given reference to a backup (`mergeback restore daily`, an API `filename`):
 *   1. with `allowOutside` (the CLI only: the user's own filesystem), text containing a path
 *      separator, or an absolute path, is returned resolved against the working directory;
 *   2. anything else must be a plain name (see `checkPlainFileName`), else UsageError;
 *   3. a file of that name inside `dir` (a symbolic link must stay inside `dir`);
 *   4. else a backup name (`daily`): the newest `daily-<time>.json…` in `dir`;
 *   5. else, with `allowOutside`, a file of that name in the working directory;
 *   6. else `dir/<name>`, which need not exist (callers creating a file use this).
 * Throws UsageError (exit 2, code UNSAFE_PATH) for NUL bytes, control characters, '..', '.',
 * separators, absolute paths and percent-encoding (unless step 1 applies), and for symbolic links
 * leading out of `dir` or to nothing. Never throws NotFoundError: opening the path does that.
 */
export function resolveBackupPath(dir: string, nameOrPath: string, options: { allowOutside?: boolean } = {}): string {
  if (typeof nameOrPath !== 'string') throw new UsageError('A backup name must be text.', { code: 'UNSAFE_PATH' })
  if (nameOrPath.includes('\0')) refuse(nameOrPath, 'it contains a NUL byte')
  const root = path.resolve(dir)
  const pathLike = nameOrPath.includes('/') || nameOrPath.includes('\\') || path.isAbsolute(nameOrPath)
  if (options.allowOutside && pathLike) return path.resolve(nameOrPath)
  checkPlainFileName(nameOrPath)
  const candidate = path.join(root, nameOrPath)
  if (fs.existsSync(candidate) || isSymlink(candidate)) {
    confineToDirectory(root, candidate)
    return candidate
  }
  const newest = newestBackupNamed(root, nameOrPath)
  if (newest) {
    confineToDirectory(root, newest)
    return newest
  }
  if (options.allowOutside && fs.existsSync(nameOrPath)) return path.resolve(nameOrPath)
  return candidate
}

function isSymlink(file: string): boolean {
  try {
    return fs.lstatSync(file).isSymbolicLink()
  } catch {
    return false
  }
}
