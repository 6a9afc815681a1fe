/**
 * Helpers for the backup-repository tests: synthetic backup JSON, writing it through
 * createBackupFile, reading it back through openBackupStream.
 */
import { randomBytes } from 'node:crypto'
import { createBackupFile, openBackupStream, type OpenBackupOptions } from '../../../src/storage/backup-file.js'
import type { BackupMetadata } from '../../../src/format/types.js'

/** scrypt cost for tests: the format allows it, and it keeps each key derivation at ~1 ms. */
export const FAST_SCRYPT = { N: 1024, r: 8, p: 1 } as const
export const PASSPHRASE = 'correct horse battery staple'

export function metadataFor(name: string, rows: number): BackupMetadata {
  return {
    format: 'mergeback',
    version: '1.0',
    exportedAt: new Date().toISOString(),
    engine: 'sqlite',
    database: 'app',
    backupName: name,
    description: `test backup ${name}`,
    tables: ['User'],
    recordCounts: { User: rows },
    compression: 'none',
    checksums: {},
  }
}

/** A backup document of about `rows` × 120 bytes; random text makes it compress only ~2×, so gzip output spans several chunks. */
export function backupJson(rows: number): string {
  const records = Array.from({ length: rows }, (_, i) => JSON.stringify({ id: `u${i}`, email: `user${i}@example.com`, note: randomBytes(24).toString('hex') }))
  return `{"tables":[{"tableName":"User","primaryKey":"id","columns":[],"records":[${records.join(',')}]}],"metadata":${JSON.stringify(metadataFor('t', rows))}}`
}

export interface WriteOptions {
  readonly name?: string
  readonly gzip?: boolean | number
  readonly passphrase?: string
  readonly now?: Date
  readonly chunkSize?: number
}

/** Writes `json` into `dir` through createBackupFile in 10 KiB writes, honouring back-pressure. */
export async function writeBackup(dir: string, json: string, options: WriteOptions = {}): Promise<{ path: string; sizeBytes: number; sha256: string }> {
  const pending = await createBackupFile({ dir }, { name: options.name ?? 'daily', gzip: options.gzip, passphrase: options.passphrase, now: options.now, scrypt: FAST_SCRYPT, chunkSize: options.chunkSize })
  try {
    const bytes = Buffer.from(json)
    for (let i = 0; i < bytes.length; i += 10_240) {
      if (!pending.stream.write(bytes.subarray(i, i + 10_240))) await new Promise((resolve) => pending.stream.once('drain', resolve))
    }
    return await pending.commit(metadataFor(options.name ?? 'daily', 0))
  } catch (error) {
    await pending.abort()
    throw error
  }
}

/** Reads a backup to the end. Returns the bytes, or the error and how many bytes came out before it. */
export async function readBackupBytes(file: string, options: OpenBackupOptions = {}): Promise<{ bytes: Buffer; error?: unknown }> {
  const parts: Buffer[] = []
  try {
    const stream = await openBackupStream(file, options)
    for await (const part of stream) parts.push(part as Buffer)
    return { bytes: Buffer.concat(parts) }
  } catch (error) {
    return { bytes: Buffer.concat(parts), error }
  }
}
