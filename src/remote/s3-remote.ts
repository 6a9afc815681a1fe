/**
 * Off-site copies on S3-compatible storage (AWS S3, MinIO, Cloudflare R2, Backblaze B2…), with
 * the official AWS SDK v3 (docs/operations.md §Off-site copies).
 *
 * Layout: a remote `s3://bucket/prefix` holds, directly under the prefix, the same files as a
 * backup directory: each backup `<prefix>/<file>` and its catalog sidecar `<prefix>/<file>.meta.json`,
 * byte for byte what `mergeback list` and `verify` read locally. The sidecar is written only once
 * the backup object is complete, so a listed backup is always whole.
 *
 * Uploads stream: a backup of unknown size goes up as a multipart upload (`@aws-sdk/lib-storage`),
 * a few parts of `PART_SIZE_BYTES` in flight at a time, never the whole file in memory. An upload
 * that fails or is aborted halfway is aborted on the server (AbortMultipartUpload): the object
 * never appears, and no sidecar is written.
 *
 * Where the endpoint, region and credentials come from (the SDK's usual chain):
 *   endpoint  MERGEBACK_S3_ENDPOINT, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or the server config's
 *             `remote.endpoint`; none: AWS S3 itself
 *   region    AWS_REGION / AWS_DEFAULT_REGION / ~/.aws/config, else `remote.region`, else us-east-1
 *   path style  on whenever an endpoint is given (MinIO and most others need it), unless
 *             MERGEBACK_S3_FORCE_PATH_STYLE=false
 *   credentials  AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN), AWS_PROFILE and
 *             ~/.aws/credentials, or an instance role: never from the command line, and never in
 *             logs, errors, audit entries or the API.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { PassThrough, type Readable, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { ConnectionError, MergebackError, NotFoundError, UsageError } from '../errors.js'
import { FileSink, createAtomicFile, ensureDirectory } from '../storage/atomic-file.js'
import type { BackupEntry, Sidecar } from '../storage/catalog.js'
import { CATALOG_VERSION, kindOfFileName, madeHere, writeSidecar } from '../storage/catalog.js'
import { isBackupDataFileName, sidecarPathFor, SIDECAR_SUFFIX } from '../storage/naming.js'
import { checkPlainFileName } from '../storage/path-safety.js'

/** Part size of multipart uploads: S3's minimum is 5 MiB; 8 MiB × 4 in flight bounds memory to ~32 MiB. */
export const PART_SIZE_BYTES = 8 * 1024 * 1024
const QUEUE_SIZE = 4

export interface RemoteSettings {
  readonly endpoint?: string
  readonly region?: string
  readonly forcePathStyle?: boolean
}

export interface RemoteLocation {
  readonly bucket: string
  /** '' or ending in '/'. */
  readonly prefix: string
  /** `s3://bucket/prefix` as given, normalised. */
  readonly url: string
}

/** Parses `s3://bucket[/prefix]`. Throws UsageError for anything else. */
export function parseRemoteUrl(url: string): RemoteLocation {
  const match = /^s3:\/\/([^/?#]+)(?:\/([^?#]*))?$/.exec(url.trim())
  if (!match) throw new UsageError(`Unknown remote ${JSON.stringify(url)}: use s3://bucket/prefix.`, { code: 'BAD_REMOTE' })
  const bucket = match[1]!
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new UsageError(`Invalid bucket name "${bucket}" in ${url}: 3 to 63 lowercase letters, digits, '.' and '-'.`, { code: 'BAD_REMOTE' })
  }
  const rawPrefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '')
  if (rawPrefix.split('/').some((part) => part === '..' || part === '.')) throw new UsageError(`The prefix of ${url} may not contain "." or ".." parts.`, { code: 'BAD_REMOTE' })
  const prefix = rawPrefix ? `${rawPrefix}/` : ''
  return { bucket, prefix, url: `s3://${bucket}/${prefix}` }
}

/** The endpoint, region and path style from the environment, over `fallback` (the server config). */
export function remoteSettingsFromEnv(fallback: RemoteSettings = {}): RemoteSettings {
  const env = process.env
  const endpoint = env.MERGEBACK_S3_ENDPOINT || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || fallback.endpoint
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || fallback.region
  const pathStyle = env.MERGEBACK_S3_FORCE_PATH_STYLE
  const forcePathStyle = pathStyle === undefined || pathStyle === '' ? (fallback.forcePathStyle ?? endpoint !== undefined) : !/^(0|false|no|off)$/i.test(pathStyle)
  if (endpoint !== undefined && !/^https?:\/\/[^\s]+$/i.test(endpoint)) throw new UsageError(`The S3 endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}.`, { code: 'BAD_REMOTE' })
  return { endpoint, region, forcePathStyle }
}

/** A remote's backup, as `list --remote` shows it: the catalog entry, with `path` the object's s3:// URL. */
export type RemoteEntry = BackupEntry

/** A streaming upload in progress (see `S3Remote.createUpload`). */
export interface RemoteUpload {
  /** The object's s3:// URL. */
  readonly url: string
  /** Write the file's bytes here; end it, then call `done`. */
  readonly stream: Writable
  /** Resolves once the object is complete on the server. */
  done(): Promise<void>
  /** Aborts the multipart upload: the object never appears. Idempotent, never throws. */
  abort(): Promise<void>
}

/**
 * One S3 location (bucket + prefix) and a client for it. Every method maps the SDK's errors onto
 * mergeback's (`toRemoteError`): unreachable endpoint → ConnectionError, refused credentials →
 * ConnectionError (not retryable), missing bucket or object → NotFoundError.
 */
export class S3Remote {
  readonly location: RemoteLocation
  readonly endpoint: string
  readonly #client: S3Client

  constructor(url: string, settings: RemoteSettings = remoteSettingsFromEnv()) {
    this.location = parseRemoteUrl(url)
    this.endpoint = settings.endpoint ?? 'AWS S3'
    // The SDK warns on every process under Node 20 about its plans for 2027; mergeback's output
    // is for mergeback's messages.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
    this.#client = new S3Client({
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      region: settings.region ?? 'us-east-1',
      forcePathStyle: settings.forcePathStyle ?? false,
      // Checksums only where S3 requires them: several S3-compatible services reject the
      // CRC32 trailers the SDK now sends by default.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 5000, requestTimeout: 60_000 },
    })
  }

  get url(): string {
    return this.location.url
  }

  /** The s3:// URL of a file under the prefix. */
  urlOf(file: string): string {
    return `s3://${this.location.bucket}/${this.location.prefix}${file}`
  }

  #key(file: string): string {
    checkPlainFileName(file)
    return `${this.location.prefix}${file}`
  }

  /** Checks that the bucket exists and the credentials are accepted, before any work starts. */
  async check(): Promise<void> {
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.location.bucket }))
    } catch (error) {
      throw this.toRemoteError(error, 'checking the bucket')
    }
  }

  /**
   * Starts a streaming upload of `file` (a name under the prefix). Bytes written to `stream` are
   * sent in parts as they come; `done()` completes the object; `abort()` (or any failure) aborts
   * the multipart upload so that no object appears.
   */
  createUpload(file: string): RemoteUpload {
    const body = new PassThrough({ highWaterMark: 1024 * 1024 })
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.location.bucket, Key: this.#key(file), Body: body },
      partSize: PART_SIZE_BYTES,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
    })
    const finished = upload.done()
    finished.catch(() => undefined)
    let aborted = false
    return {
      url: this.urlOf(file),
      stream: body,
      done: async () => {
        try {
          await finished
        } catch (error) {
          throw this.toRemoteError(error, `uploading ${file}`)
        }
      },
      abort: async () => {
        if (aborted) return
        aborted = true
        // Abort first, so that the end of the body can never be taken for the end of the file.
        await upload.abort().catch(() => undefined)
        body.destroy(new Error('upload aborted'))
        await finished.catch(() => undefined)
      },
    }
  }

  /** Uploads a local file (streamed) and then its sidecar. */
  async uploadFile(localPath: string, file = path.basename(localPath)): Promise<{ url: string; sizeBytes: number }> {
    const sidecar = await fs.readFile(sidecarPathFor(localPath), 'utf8').catch(() => undefined)
    const upload = this.createUpload(file)
    const handle = await fs.open(localPath, 'r')
    let sizeBytes = 0
    try {
      const source = handle.createReadStream({ highWaterMark: 1024 * 1024 })
      source.on('data', (chunk: string | Buffer) => {
        sizeBytes += chunk.length
      })
      await pipeline(source, upload.stream)
      await upload.done()
    } catch (error) {
      await upload.abort()
      throw error
    } finally {
      await handle.close().catch(() => undefined)
    }
    if (sidecar !== undefined) await this.putSidecarText(file, sidecar)
    return { url: this.urlOf(file), sizeBytes }
  }

  /** Writes `<file>.meta.json`. If that fails the backup object is removed again: a commit leaves a catalogued backup or nothing. */
  async putSidecar(file: string, sidecar: Sidecar): Promise<void> {
    await this.putSidecarText(file, `${JSON.stringify(sidecar, null, 2)}\n`)
  }

  async putSidecarText(file: string, text: string): Promise<void> {
    try {
      await this.#client.send(
        new PutObjectCommand({ Bucket: this.location.bucket, Key: this.#key(`${file}${SIDECAR_SUFFIX}`), Body: text, ContentType: 'application/json' }),
      )
    } catch (error) {
      await this.#deleteKey(this.#key(file)).catch(() => undefined)
      throw this.toRemoteError(error, `writing the catalog entry of ${file}`)
    }
  }

  /** Whether an object named `file` exists under the prefix. */
  async exists(file: string): Promise<boolean> {
    try {
      await this.#client.send(new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.#key(file) }))
      return true
    } catch (error) {
      if (error instanceof S3ServiceException && error.$metadata.httpStatusCode === 404) return false
      throw this.toRemoteError(error, `looking for ${file}`)
    }
  }

  /** Every backup under the prefix (not below it), newest first, from the sidecars. */
  async list(): Promise<RemoteEntry[]> {
    const objects = new Map<string, { size: number; modified: Date }>()
    let token: string | undefined
    try {
      do {
        const page = await this.#client.send(
          new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.location.prefix, Delimiter: '/', ContinuationToken: token }),
        )
        for (const object of page.Contents ?? []) {
          if (!object.Key) continue
          objects.set(object.Key.slice(this.location.prefix.length), { size: object.Size ?? 0, modified: object.LastModified ?? new Date(0) })
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined
      } while (token)
    } catch (error) {
      throw this.toRemoteError(error, 'listing the backups')
    }
    const entries: RemoteEntry[] = []
    for (const [file, object] of objects) {
      if (!isBackupDataFileName(file)) continue
      const sidecar = objects.has(`${file}${SIDECAR_SUFFIX}`) ? await this.#readSidecar(file) : undefined
      entries.push(this.#entryFor(file, object, sidecar))
    }
    return entries.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.file < b.file ? 1 : -1))
  }

  async #readSidecar(file: string): Promise<Sidecar | undefined> {
    try {
      const text = await this.#getText(`${file}${SIDECAR_SUFFIX}`)
      const parsed = JSON.parse(text) as Sidecar
      return parsed.catalogVersion === CATALOG_VERSION && parsed.file === file ? parsed : undefined
    } catch (error) {
      if (error instanceof SyntaxError || error instanceof NotFoundError) return undefined
      throw error
    }
  }

  #entryFor(file: string, object: { size: number; modified: Date }, sidecar: Sidecar | undefined): RemoteEntry {
    const base = { file, path: this.urlOf(file), sizeBytes: object.size, kind: sidecar?.kind ?? kindOfFileName(file), origin: sidecar !== undefined && madeHere(sidecar) ? ('here' as const) : ('foreign' as const) }
    if (!sidecar) {
      return { ...base, origin: 'foreign', name: file.replace(/-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\..*$/, ''), createdAt: object.modified.toISOString(), compression: /\.gz(\.enc)?$/.test(file) ? 'gzip' : /\.zst(\.enc)?$/.test(file) ? 'zstd' : 'none', encrypted: file.endsWith('.enc'), catalogued: false }
    }
    const problem = object.size !== sidecar.sizeBytes ? `size ${object.size} bytes, the catalog records ${sidecar.sizeBytes}` : undefined
    return {
      ...base,
      name: sidecar.name,
      description: sidecar.description,
      engine: sidecar.engine,
      database: sidecar.database,
      createdAt: sidecar.createdAt,
      tables: sidecar.tables,
      recordCounts: sidecar.recordCounts,
      compression: sidecar.compression,
      encrypted: sidecar.encrypted,
      sha256: sidecar.sha256,
      catalogued: true,
      origin: madeHere(sidecar) ? 'here' : 'foreign',
      ...(problem ? { problem } : {}),
    }
  }

  /** The one backup `ref` names: a file name under the prefix, or a backup name exactly one backup has. */
  async find(ref: string): Promise<RemoteEntry> {
    checkPlainFileName(ref)
    const entries = await this.list()
    const byFile = entries.find((e) => e.file === ref)
    if (byFile) return byFile
    const byName = entries.filter((e) => e.name === ref)
    if (byName.length === 1) return byName[0]!
    if (byName.length > 1) {
      throw new UsageError(`${byName.length} backups in ${this.url} are named "${ref}": give the file name of one of them (${byName.map((b) => b.file).join(', ')}).`, {
        code: 'AMBIGUOUS_NAME',
      })
    }
    throw new NotFoundError(`No backup "${ref}" in ${this.url} (see mergeback list --remote ${this.url}).`)
  }

  /** The object's bytes as a stream. */
  async openStream(file: string): Promise<Readable> {
    try {
      const result = await this.#client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.#key(file) }))
      return result.Body as Readable
    } catch (error) {
      throw this.toRemoteError(error, `reading ${file}`)
    }
  }

  async #getText(file: string): Promise<string> {
    const stream = await this.openStream(file)
    const parts: Buffer[] = []
    for await (const part of stream) parts.push(part as Buffer)
    return Buffer.concat(parts).toString('utf8')
  }

  /**
   * Downloads backup `ref` into `dir` (atomically: temporary file, fsync, rename) with its
   * sidecar. Refuses to replace an existing file. Returns the local path.
   */
  async download(ref: string, dir: string): Promise<{ path: string; entry: RemoteEntry }> {
    const entry = await this.find(ref)
    await ensureDirectory(dir)
    const finalPath = path.resolve(dir, entry.file)
    const file = await createAtomicFile(finalPath, { noClobber: true })
    try {
      await pipeline(await this.openStream(entry.file), new FileSink(file.handle))
      await file.commit()
    } catch (error) {
      await file.abort()
      throw error instanceof MergebackError ? error : this.toRemoteError(error, `downloading ${entry.file}`)
    }
    const sidecar = entry.catalogued ? await this.#readSidecar(entry.file) : undefined
    if (sidecar) await writeSidecar(finalPath, sidecar)
    return { path: finalPath, entry }
  }

  /** Deletes a backup and its sidecar (the data object first). */
  async delete(ref: string): Promise<RemoteEntry> {
    const entry = await this.find(ref)
    await this.#deleteKey(this.#key(entry.file))
    await this.#deleteKey(this.#key(`${entry.file}${SIDECAR_SUFFIX}`))
    return entry
  }

  async #deleteKey(key: string): Promise<void> {
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: key }))
    } catch (error) {
      throw this.toRemoteError(error, `deleting ${key}`)
    }
  }

  /** Closes the client's connections. */
  close(): void {
    this.#client.destroy()
  }

  /**
   * Maps an SDK or network error onto mergeback's errors. The message names the endpoint, the
   * bucket and what was being done, and the service's error code; never a credential (the SDK's
   * own messages, which may echo request details, are not passed on).
   */
  toRemoteError(error: unknown, doing: string): MergebackError {
    if (error instanceof MergebackError) return error
    const where = `${this.url} (endpoint ${this.endpoint})`
    if (error instanceof S3ServiceException) {
      const status = error.$metadata.httpStatusCode
      const code = error.name
      if (code === 'NoSuchBucket' || (doing === 'checking the bucket' && status === 404)) {
        return new NotFoundError(`The bucket "${this.location.bucket}" does not exist at ${this.endpoint}: create it first, or check the remote URL ${this.url}.`, {
          details: { remote: this.url, s3Code: code },
        })
      }
      if (code === 'NoSuchKey' || status === 404) return new NotFoundError(`Not found in ${where} while ${doing}.`, { details: { remote: this.url, s3Code: code } })
      if (
        status === 403 ||
        code === 'InvalidAccessKeyId' ||
        code === 'SignatureDoesNotMatch' ||
        code === 'AccessDenied' ||
        code === 'ExpiredToken' ||
        code === 'InvalidToken'
      ) {
        return new ConnectionError(
          `S3 at ${this.endpoint} refused the credentials while ${doing} (${code}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and the key's permissions on bucket "${this.location.bucket}".`,
          { retryable: false, details: { remote: this.url, s3Code: code, status } },
        )
      }
      return new ConnectionError(`S3 at ${where} failed while ${doing}: ${code} (HTTP ${status ?? '?'}).`, { details: { remote: this.url, s3Code: code, status } })
    }
    const e = error as NodeJS.ErrnoException & { name?: string }
    if (e?.name === 'CredentialsProviderError') {
      return new UsageError(`No S3 credentials found while ${doing}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with ~/.aws/credentials.`, {
        code: 'NO_CREDENTIALS',
      })
    }
    const reason = e?.code ?? e?.name ?? 'error'
    return new ConnectionError(`Cannot reach S3 at ${this.endpoint} while ${doing} (${reason}). Is the endpoint right and the service up?`, {
      cause: error,
      details: { remote: this.url, reason },
    })
  }
}
