/**
 * The MongoDB server the MongoDB integration tests talk to.
 *
 * - `MERGEBACK_TEST_MONGODB_URL` set: that server (a real MongoDB standalone, replica set or
 *   cluster, Atlas, or a FerretDB someone runs). Nothing is started.
 * - Otherwise the tests start their own FerretDB 1.x (a MongoDB wire-protocol server, Apache-2.0)
 *   on a free loopback port, on a fresh PostgreSQL database of the local server, and stop it and
 *   drop that database afterwards. The binary is `MERGEBACK_TEST_FERRETDB_BIN`, else the one
 *   `.ci/install-ferretdb` installs (`~/.cache/mergeback/ferretdb-<version>/ferretdb`), else
 *   `ferretdb` on PATH.
 *
 * Without either, the MongoDB tests are skipped and say so — unless
 * `MERGEBACK_TEST_DISALLOW_SKIP=1` (CI), where they fail with what to install.
 *
 * What FerretDB 1.x lacks is listed once, in FERRETDB_GAPS, with the reason; a test that needs one
 * of them is skipped on FerretDB by name (the test files' `skipOnFerretdb` lists) and still runs
 * on a real MongoDB.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { MongoClient } from 'mongodb'
import pg from 'pg'
import { POSTGRES_ADMIN_URL } from './databases.js'

/** The FerretDB release `.ci/install-ferretdb` installs (keep the two in step). */
export const FERRETDB_VERSION = 'v1.24.2'

/**
 * What FerretDB 1.x (measured on v1.24.2, PostgreSQL backend) lacks of what the tests use, and
 * how it shows. docs/mongodb.md repeats this for users.
 */
export const FERRETDB_GAPS = {
  transactions: 'no replica sets and no multi-document transactions (hello has no setName; only the undo journal is tested)',
  decimal128: 'no Decimal128: inserting one closes the connection',
  specialDoubles: 'no NaN or ±Infinity (NaN closes the connection, Infinity is refused), and -0.0 is stored as 0.0',
  legacyTypes: 'no MinKey, MaxKey, JavaScript code (with or without scope) or Symbol: inserting one closes the connection',
  dollarNames: 'no field names starting with "$" at any depth, so no DBRef ({ $ref, $id, $db }) either',
  dottedNames: 'no field names containing "."',
  nestedArrays: 'no arrays directly inside arrays',
  views: 'no views (create with viewOn is not implemented)',
  validators: 'no collection validators',
  collation: 'no collations, on collections or indexes',
  timeSeries: 'no time-series or clustered collections',
  indexOptions: 'no TTL (expireAfterSeconds), partial, hidden, text, 2dsphere or hashed indexes; "sparse" is accepted and silently dropped',
  cursorMetrics: 'serverStatus has no metrics.cursor, so open server cursors cannot be counted',
  indexedQueries: '`_id: { $in }` and sorted reads scan the whole collection (no index is used), so large collections are slow',
} as const

export type Gap = keyof typeof FERRETDB_GAPS

/**
 * The MongoDB tests skipped on FerretDB, by name, with the gap that makes them pointless there.
 * Every other test runs on FerretDB too, on fixtures left without what it lacks (the tests ask
 * `server.lacks(gap)`). Tests of write mode "transaction" and snapshot reads are skipped on every
 * standalone server, FerretDB included, by their own check of the topology.
 */
export const SKIPPED_ON_FERRETDB: Readonly<Record<string, Gap>> = {
  'closes the server cursor when the consumer leaves early, and stays usable': 'cursorMetrics',
  'a refused document is a DatabaseError naming the collection and _id; rollback restores everything': 'validators',
  'are backed up and restored with their options; --drop on one is refused before any change': 'timeSeries',
}

/** For a test's beforeEach: skips it, saying why, when it is listed in SKIPPED_ON_FERRETDB and the server lacks its gap. */
export function skipIfServerLacks(server: MongodbTestServer | undefined, ctx: { task: { name: string }; skip(note?: string): void }): void {
  const gap = SKIPPED_ON_FERRETDB[ctx.task.name]
  if (server && gap && server.lacks(gap)) ctx.skip(`FerretDB ${server.ferretdbVersion} lacks ${gap}: ${FERRETDB_GAPS[gap]}`)
}

export interface MongodbTestServer {
  /** The server's URL (database `admin`). */
  readonly url: string
  /** `ferretdb` when the server says it is one (buildInfo.ferretdbVersion), else `mongodb`. */
  readonly kind: 'ferretdb' | 'mongodb'
  /** `7.0.42` (the MongoDB version it answers like) and, for FerretDB, its own version. */
  readonly version: string
  readonly ferretdbVersion?: string
  /** Whether the server lacks this (only FerretDB lacks anything here). */
  lacks(gap: Gap): boolean
  /** Stops a server the tests started (and drops its backend database); a no-op for an external one. */
  stop(): Promise<void>
}

export const EXTERNAL_MONGODB_URL = process.env.MERGEBACK_TEST_MONGODB_URL || undefined
const DISALLOW_SKIP = process.env.MERGEBACK_TEST_DISALLOW_SKIP === '1'

/** The FerretDB binary to start, or undefined when none is installed. */
export function ferretdbBinary(): string | undefined {
  const fromEnv = process.env.MERGEBACK_TEST_FERRETDB_BIN
  if (fromEnv) return fromEnv
  const cached = path.join(os.homedir(), '.cache', 'mergeback', `ferretdb-${FERRETDB_VERSION}`, 'ferretdb')
  if (isExecutable(cached)) return cached
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'ferretdb')
    if (dir && isExecutable(candidate)) return candidate
  }
  return undefined
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/**
 * Why the MongoDB tests cannot run here, or undefined when they can (a URL, or FerretDB
 * installed). With MERGEBACK_TEST_DISALLOW_SKIP=1 this is always undefined: startMongodbServer()
 * then fails loudly instead.
 */
export function mongodbSkipReason(): string | undefined {
  if (EXTERNAL_MONGODB_URL || ferretdbBinary() || DISALLOW_SKIP) return undefined
  return 'skipped: no MongoDB server (set MERGEBACK_TEST_MONGODB_URL, or install FerretDB with `bash .ci/install-ferretdb`)'
}

/** The external server, or a FerretDB started for the calling test file. Throws with what to do when neither can be had. */
export async function startMongodbServer(): Promise<MongodbTestServer> {
  if (EXTERNAL_MONGODB_URL) return describeServer(EXTERNAL_MONGODB_URL, async () => undefined)
  const binary = ferretdbBinary()
  if (!binary) {
    throw new Error(
      `No MongoDB server for the MongoDB tests: FerretDB ${FERRETDB_VERSION} is not installed (run \`bash .ci/install-ferretdb\`, ` +
        'or set MERGEBACK_TEST_FERRETDB_BIN to a ferretdb binary), and MERGEBACK_TEST_MONGODB_URL is not set.',
    )
  }
  return startFerretdb(binary)
}

async function describeServer(url: string, stop: () => Promise<void>): Promise<MongodbTestServer> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 10_000 })
  try {
    await client.connect()
    const build = await client.db('admin').command({ buildInfo: 1 })
    const ferretdbVersion = typeof build.ferretdbVersion === 'string' ? build.ferretdbVersion : undefined
    return {
      url,
      kind: ferretdbVersion ? 'ferretdb' : 'mongodb',
      version: String(build.version),
      ferretdbVersion,
      lacks: (gap) => ferretdbVersion !== undefined && gap in FERRETDB_GAPS,
      stop,
    }
  } catch (error) {
    await stop()
    throw new Error(`The MongoDB test server at ${url} does not answer: ${(error as Error).message}`)
  } finally {
    await client.close()
  }
}

/** A TCP port nothing listens on right now (the kernel's choice). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

async function startFerretdb(binary: string): Promise<MongodbTestServer> {
  const database = `mbferret_${process.pid}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 })
  try {
    await admin.connect()
  } catch (error) {
    throw new Error(`FerretDB needs PostgreSQL, which is not reachable at ${POSTGRES_ADMIN_URL} (${(error as Error).message}).`)
  }
  try {
    await admin.query(`CREATE DATABASE "${database}"`)
  } finally {
    await admin.end()
  }
  const backend = new URL(POSTGRES_ADMIN_URL)
  backend.pathname = `/${database}`
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-ferretdb-'))

  let child: ChildProcess | undefined
  let output = ''
  const dropBackend = async () => {
    const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL })
    await client.connect()
    try {
      await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
    } finally {
      await client.end()
    }
    fs.rmSync(stateDir, { recursive: true, force: true })
  }
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child!.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    }
    await dropBackend()
  }

  // The port may be taken between freePort() and FerretDB's listen: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    output = ''
    child = spawn(
      binary,
      [
        '--handler=postgresql',
        `--postgresql-url=${backend.toString()}`,
        `--listen-addr=127.0.0.1:${port}`,
        `--state-dir=${stateDir}`,
        '--debug-addr=-',
        '--telemetry=disable',
        '--log-level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    // If the test process dies without stop(), FerretDB goes with it.
    const started = child
    process.once('exit', () => started.kill('SIGKILL'))
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
    // Never keep the test process alive for it; stop() ends it.
    child.unref()
    const url = `mongodb://127.0.0.1:${port}/admin`
    if (await answers(url, child, 15_000)) return describeServer(url, stop)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    if (attempt >= 3) {
      await dropBackend().catch(() => undefined)
      throw new Error(`FerretDB (${binary}) did not start on 127.0.0.1:${port}: ${output.trim().split('\n').slice(-5).join('\n') || 'no output'}`)
    }
  }
}

/** Whether a server answers `ping` at `url` before `child` exits or the time is up. */
async function answers(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    const client = new MongoClient(url, { serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 })
    try {
      await client.connect()
      await client.db('admin').command({ ping: 1 })
      return true
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    } finally {
      await client.close().catch(() => undefined)
    }
  }
  return false
}
