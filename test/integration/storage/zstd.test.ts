/**
 * zstd-compressed backups (`backup --zstd`, `.json.zst`, issue #17) through the built CLI on the
 * SQLite demo database: written with the zstd magic and frame checksums, readable by the zstd
 * command-line tool, verified, restored exactly, encrypted inside the container (flag bit 1), and
 * every bad combination refused before anything is written. Damage is found and named.
 */
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDemoDatabase } from '../../../src/demo/demo-database.js'
import { FLAG_ZSTD_PAYLOAD, HEADER_LENGTH, parseHeader } from '../../../src/crypto/container.js'
import { listDir, runCli } from '../../helpers/cli.js'
import { makeTempDir } from '../../helpers/databases.js'

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd])
const PASSPHRASE = 'zstd test passphrase'

let temp: { dir: string; cleanup: () => void }
let source: string
let dir: string

beforeAll(() => {
  temp = makeTempDir('mergeback-zstd-')
  source = path.join(temp.dir, 'demo.db')
  createDemoDatabase(source)
  dir = path.join(temp.dir, 'backups')
})
afterAll(() => temp.cleanup())

/** Every table of a SQLite file, each as its rows in a fixed order (a restore inserts in key order, so rowids may differ). */
function contents(file: string): Record<string, unknown[]> {
  const db = new Database(file, { readonly: true })
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]
    return Object.fromEntries(tables.map(({ name }) => [name, db.prepare(`SELECT * FROM "${name}"`).all().map((row) => JSON.stringify(row)).sort()]))
  } finally {
    db.close()
  }
}

describe('backup --zstd', () => {
  let file: string

  beforeAll(async () => {
    const result = await runCli(['backup', '--db', `sqlite:${source}`, '--dir', dir, '--zstd', '--name', 'zs', '--json'])
    expect(result.code, result.stderr).toBe(0)
    file = result.json().file
  })

  it('writes <name>-<time>.json.zst, zstd data with the catalog saying so', async () => {
    expect(path.basename(file)).toMatch(/^zs-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.json\.zst$/)
    expect(fs.readFileSync(file).subarray(0, 4)).toEqual(ZSTD_MAGIC)
    const sidecar = JSON.parse(fs.readFileSync(`${file}.meta.json`, 'utf8'))
    expect(sidecar.compression).toBe('zstd')
    const listed = await runCli(['list', '--dir', dir, '--json'])
    expect(listed.json().backups.find((b: { file: string }) => b.file === path.basename(file)).compression).toBe('zstd')
  })

  it('is read by the zstd command-line tool (frames with checksums, nothing of our own)', () => {
    const unzstd = spawnSync('zstd', ['-d', '-c', '-q', file], { maxBuffer: 256 * 1024 * 1024 })
    expect(unzstd.error, 'the zstd tool (Debian package zstd) must be installed for this test').toBeUndefined()
    expect(unzstd.status).toBe(0)
    const document = JSON.parse(unzstd.stdout.toString('utf8'))
    expect(document.metadata.compression).toBe('zstd')
    expect(spawnSync('zstd', ['-t', '-q', file]).status).toBe(0)
  })

  it('verifies, with the zstd layer checked', async () => {
    const result = await runCli(['verify', file, '--json'])
    expect(result.code, result.stderr).toBe(0)
    expect(JSON.stringify(result.json())).toMatch(/zstd/)
  })

  it('restores into a new database exactly', async () => {
    const target = path.join(temp.dir, 'restored.db')
    const result = await runCli(['restore', file, '--db', `sqlite:${target}`, '--yes', '--json'])
    expect(result.code, result.stderr).toBe(0)
    expect(contents(target)).toEqual(contents(source))
  })

  it('smaller than gzip -1 of the same backup', async () => {
    const gz = await runCli(['backup', '--db', `sqlite:${source}`, '--dir', dir, '--gzip', '--name', 'gz', '--json'])
    expect(gz.code, gz.stderr).toBe(0)
    expect(fs.statSync(file).size).toBeLessThan(gz.json().sizeBytes)
  })
})

describe('backup --zstd --encrypt', () => {
  it('writes .json.zst.enc with header flag bit 1, and restores it exactly', async () => {
    const env = { MERGEBACK_PASSPHRASE: PASSPHRASE }
    const made = await runCli(['backup', '--db', `sqlite:${source}`, '--dir', dir, '--zstd', '--encrypt', '--name', 'zsenc', '--json'], { env })
    expect(made.code, made.stderr).toBe(0)
    const file: string = made.json().file
    expect(file).toMatch(/\.json\.zst\.enc$/)
    const header = parseHeader(fs.readFileSync(file).subarray(0, HEADER_LENGTH))
    expect(header).toMatchObject({ zstdPayload: true, gzipPayload: false })
    expect(header.bytes[65] & FLAG_ZSTD_PAYLOAD).toBe(FLAG_ZSTD_PAYLOAD)
    const target = path.join(temp.dir, 'restored-enc.db')
    const restored = await runCli(['restore', file, '--db', `sqlite:${target}`, '--yes', '--json'], { env })
    expect(restored.code, restored.stderr).toBe(0)
    expect(contents(target)).toEqual(contents(source))
  })
})

describe('--out names and refusals (nothing written)', () => {
  it('takes --out x.json.zst as a zstd file without --zstd', async () => {
    const out = path.join(temp.dir, 'named.json.zst')
    const result = await runCli(['backup', '--db', `sqlite:${source}`, '--out', out, '--json'])
    expect(result.code, result.stderr).toBe(0)
    expect(fs.readFileSync(out).subarray(0, 4)).toEqual(ZSTD_MAGIC)
  })

  for (const [label, args, message] of [
    ['--zstd into a .json name', ['--zstd', '--out', 'OUT/x.json'], /does not end in \.json\.zst.*name it .*x\.json\.zst/],
    ['--gzip and --zstd together', ['--gzip', '--zstd', '--out', 'OUT'], /--gzip or --zstd, not both/],
    ['a zstd level out of range', ['--zstd-level', '25', '--out', 'OUT'], /--zstd-level must be 1 to 19/],
    ['--zstd with --full', ['--zstd', '--full', '--out', 'OUT'], /--zstd is for JSON backups/],
  ] as const) {
    it(`refuses ${label} with exit 2 and writes nothing`, async () => {
      const out = path.join(temp.dir, `refused-${label.replace(/\W+/g, '-')}`)
      const result = await runCli(['backup', '--db', `sqlite:${source}`, ...args.map((a) => a.replace('OUT', out))])
      expect(result.code, result.stderr).toBe(2)
      expect(result.stderr).toMatch(message)
      expect(await listDir(out)).toEqual([])
    })
  }
})

describe('damaged zstd files', () => {
  function copyWith(name: string, damage: (bytes: Buffer) => Buffer): string {
    const made = fs.readdirSync(dir).find((f) => f.startsWith('zs-') && f.endsWith('.json.zst')) as string
    const target = path.join(temp.dir, name)
    fs.writeFileSync(target, damage(fs.readFileSync(path.join(dir, made))))
    return target
  }

  it('a flipped byte fails verify on the zstd layer, and restore changes nothing', async () => {
    const file = copyWith('flipped.json.zst', (bytes) => {
      const copy = Buffer.from(bytes)
      copy[Math.floor(copy.length / 2)] ^= 0xff
      return copy
    })
    const verified = await runCli(['verify', file, '--json'])
    expect(verified.code).toBe(2)
    expect(verified.stdout + verified.stderr).toMatch(/zstd/)
    const target = path.join(temp.dir, 'untouched.db')
    const restored = await runCli(['restore', file, '--db', `sqlite:${target}`, '--yes'])
    expect(restored.code).toBe(2)
    expect(restored.stderr).not.toMatch(/internal error/)
    expect(fs.existsSync(target) ? fs.statSync(target).size : 0).toBe(0)
  })

  it('a truncated file is reported as truncated', async () => {
    const file = copyWith('truncated.json.zst', (bytes) => bytes.subarray(0, bytes.length - 100))
    const verified = await runCli(['verify', file, '--json'])
    expect(verified.code).toBe(2)
    expect(verified.stdout + verified.stderr).toMatch(/truncated/i)
  })
})
