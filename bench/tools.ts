/**
 * The commands the bench compares: mergeback's verbs and the engines' own tools, and the groups
 * they are compared in (each group: the tools that run side by side, and the ratios reported).
 *
 * A tool's `setup()` does the untimed work before one run (create an empty target database, copy
 * the changed database, make an output directory) and returns the command to time, plus a
 * `verify()` that checks the run did the work (row counts of the restored or merged database) and
 * a `cleanup()`. Whatever a command needs as input (a backup file, a dump) is a *fixture*, made
 * once per bench run: by the first successful run of the tool that produces it, or on demand.
 */
import path from 'node:path'
import type { BenchEngine } from './generate.js'
import type { BenchServer } from './servers.js'
import type { CommandSpec } from './measure.js'

export type GroupId = 'backup' | 'backup-gzip' | 'restore' | 'analyze' | 'merge' | 'floor'
export const GROUP_IDS: readonly GroupId[] = ['backup', 'backup-gzip', 'restore', 'analyze', 'merge', 'floor']

/** Inputs made once per bench run and shared by the tools that read them. */
export type FixtureKey = 'json' | 'pg-custom' | 'pg-plain' | 'mysql-dump' | 'sqlite-dump'

/** A bench run's view of one engine, as the tools need it. */
export interface EngineContext {
  readonly engine: BenchEngine
  readonly server: BenchServer
  /** The generated database (never written to by any tool). */
  readonly sourceDb: string
  /** Row counts of the source database: what a restore or a merge of the changed database must end with. */
  readonly sourceCounts: Readonly<Record<string, number>>
  /** The generated database after `mutate()`; made on first use. */
  changedDb(): Promise<string>
  /** A new empty database, dropped by the returned function (or at the end of the bench). */
  newDatabase(): Promise<{ name: string; drop(): Promise<void> }>
  /** A copy of `source`, dropped by the returned function (or at the end of the bench). */
  copyDatabase(source: string): Promise<{ name: string; drop(): Promise<void> }>
  /** A fresh empty directory for one run's output, removed by the returned function. */
  newOutputDir(label: string): Promise<{ dir: string; remove(): Promise<void> }>
  /** The path of a fixture, making it first when needed. Throws NotMeasured when it cannot be made. */
  fixture(key: FixtureKey): Promise<string>
  /** argv for `node bin/mergeback.js <args>` (with --cpu-prof when profiling). */
  mergeback(args: readonly string[]): string[]
}

/** One prepared run of a tool. */
export interface PreparedRun {
  readonly command: CommandSpec
  /** Directory whose files are the run's output (their total size is reported). */
  readonly outputDir?: string
  /** Checks the result after a successful exit; returns a problem, or undefined when all is right. */
  verify?(): Promise<string | undefined>
  cleanup(): Promise<void>
}

export interface ToolDef {
  /** Unique within the group, stable across releases (it is a key in the results JSON). */
  readonly id: string
  /** What the table shows. */
  readonly label: string
  /** The mergeback verb the tool runs, if it is one of ours (checked before running). */
  readonly verb?: string
  /** Tools with the same key measure the same thing: a later group reuses the earlier samples. */
  readonly shareKey?: string
  /** The output of a successful run is kept as this fixture (if it is not there yet). */
  readonly produces?: FixtureKey
  /** Parse stdout as mergeback's `--json` report and keep it in the results. */
  readonly jsonReport?: boolean
  setup(ctx: EngineContext): Promise<PreparedRun>
}

export interface Comparison {
  /** The line in the targets table, e.g. "backup, plain JSON". */
  readonly label: string
  readonly tool: string
  readonly peer: string
  readonly metric: 'seconds' | 'bytes'
  /** The issue's target for tool/peer, when there is one. */
  readonly target?: number
}

export interface GroupDef {
  readonly id: GroupId
  readonly engine: BenchEngine
  readonly title: string
  readonly tools: readonly ToolDef[]
  readonly comparisons: readonly Comparison[]
}

/** Thrown when a measurement cannot be made yet (a mergeback verb or an input is missing). */
export class NotMeasured extends Error {
  override readonly name = 'NotMeasured'
}

/** The arguments of the engines' command-line clients for a database URL (password kept out of argv). */
function mysqlClientArgs(url: string): { args: string[]; env: Record<string, string | null> } {
  const u = new URL(url)
  const args = ['-h', u.hostname || '127.0.0.1', '-P', u.port || '3306', '-u', decodeURIComponent(u.username || 'root')]
  return { args, env: { MYSQL_PWD: u.password ? decodeURIComponent(u.password) : null } }
}

/** The one database of a URL, for mysqldump / mysql. */
function mysqlDatabase(url: string): string {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''))
}

function countsProblem(expected: Readonly<Record<string, number>>, actual: Readonly<Record<string, number>>): string | undefined {
  const wrong = Object.keys(expected).filter((t) => expected[t] !== actual[t])
  if (wrong.length === 0) return undefined
  return `row counts differ from the source: ${wrong.map((t) => `${t} ${actual[t]} ≠ ${expected[t]}`).join(', ')}`
}

/** A database a tool writes into, verified against the source's row counts and dropped afterwards. */
function verifiedTarget(ctx: EngineContext, db: { name: string; drop(): Promise<void> }) {
  return {
    verify: async () => countsProblem(ctx.sourceCounts, await ctx.server.rowCounts(db.name)),
    cleanup: () => db.drop(),
  }
}

const BACKUP_NAMES = { plain: 'backup.json', gzip: 'backup.json.gz', zstd: 'backup.json.zst', encrypted: 'backup.json.gz.enc' } as const
const BACKUP_FLAGS: Record<keyof typeof BACKUP_NAMES, string[]> = { plain: [], gzip: ['--gzip'], zstd: ['--zstd'], encrypted: ['--gzip', '--encrypt'] }

/** The passphrase the encryption benchmark uses (a benchmark secret, not a real one). */
export const BENCH_PASSPHRASE = 'mergeback-bench-passphrase'

function mergebackBackup(kind: keyof typeof BACKUP_NAMES): ToolDef {
  const flags = BACKUP_FLAGS[kind]
  return {
    id: `mergeback-backup-${kind}`,
    label: `mergeback backup${flags.length ? ` ${flags.join(' ')}` : ''}`,
    verb: 'backup',
    shareKey: `mergeback-backup-${kind}`,
    produces: kind === 'plain' ? 'json' : undefined,
    async setup(ctx) {
      const out = await ctx.newOutputDir(`mergeback-backup-${kind}`)
      return {
        command: {
          argv: ctx.mergeback(['backup', '--db', ctx.server.urlFor(ctx.sourceDb), '--out', path.join(out.dir, BACKUP_NAMES[kind]), ...flags, '--json']),
          env: { MERGEBACK_PASSPHRASE: kind === 'encrypted' ? BENCH_PASSPHRASE : null, DATABASE_URL: null },
        },
        outputDir: out.dir,
        cleanup: out.remove,
      }
    },
  }
}

function pgDump(format: 'plain' | 'custom'): ToolDef {
  const flag = format === 'plain' ? '-Fp' : '-Fc'
  return {
    id: `pg_dump-${format}`,
    label: `pg_dump ${flag}`,
    shareKey: `pg_dump-${format}`,
    produces: format === 'plain' ? 'pg-plain' : 'pg-custom',
    async setup(ctx) {
      const out = await ctx.newOutputDir(`pg_dump-${format}`)
      const file = path.join(out.dir, format === 'plain' ? 'dump.sql' : 'dump.custom')
      return { command: { argv: ['pg_dump', '-d', ctx.server.urlFor(ctx.sourceDb), flag, '-f', file] }, outputDir: out.dir, cleanup: out.remove }
    },
  }
}

const mysqldump: ToolDef = {
  id: 'mysqldump',
  label: 'mysqldump --single-transaction',
  shareKey: 'mysqldump',
  produces: 'mysql-dump',
  async setup(ctx) {
    const out = await ctx.newOutputDir('mysqldump')
    const url = ctx.server.urlFor(ctx.sourceDb)
    const client = mysqlClientArgs(url)
    return {
      command: {
        argv: ['mysqldump', ...client.args, '--single-transaction', `--result-file=${path.join(out.dir, 'dump.sql')}`, mysqlDatabase(url)],
        env: client.env,
      },
      outputDir: out.dir,
      cleanup: out.remove,
    }
  },
}

/** The file of a bench `sqlite:` URL. */
function sqlitePath(url: string): string {
  return url.replace(/^sqlite:/i, '')
}

/** `sqlite3 FILE .dump`: SQLite's own text dump, the peer of backup. */
const sqliteDump: ToolDef = {
  id: 'sqlite3-dump',
  label: 'sqlite3 .dump',
  shareKey: 'sqlite3-dump',
  produces: 'sqlite-dump',
  async setup(ctx) {
    const out = await ctx.newOutputDir('sqlite3-dump')
    const file = sqlitePath(ctx.server.urlFor(ctx.sourceDb))
    return {
      command: { argv: ['sh', '-c', 'sqlite3 "$1" .dump > "$2"', 'sqlite3-dump', file, path.join(out.dir, 'dump.sql')] },
      outputDir: out.dir,
      cleanup: out.remove,
    }
  },
}

/** `sqlite3 NEW.db < dump.sql`: the peer of restore, analyze and merge on SQLite. */
const sqliteLoad: ToolDef = {
  id: 'sqlite3-load',
  label: 'sqlite3 < dump',
  shareKey: 'sqlite3-load',
  async setup(ctx) {
    const file = await ctx.fixture('sqlite-dump')
    const db = await ctx.newDatabase()
    return { command: { argv: ['sqlite3', sqlitePath(ctx.server.urlFor(db.name))], stdinFile: file }, ...verifiedTarget(ctx, db) }
  },
}

const mergebackRestore: ToolDef = {
  id: 'mergeback-restore',
  label: 'mergeback restore',
  verb: 'restore',
  shareKey: 'mergeback-restore',
  jsonReport: true,
  async setup(ctx) {
    const file = await ctx.fixture('json')
    const db = await ctx.newDatabase()
    return {
      command: { argv: ctx.mergeback(['restore', file, '--db', ctx.server.urlFor(db.name), '--yes', '--json']), env: { DATABASE_URL: null } },
      ...verifiedTarget(ctx, db),
    }
  },
}

/** `pg_restore -Fc -j 2` into an empty database: the peer of restore, analyze and merge. */
const pgRestore: ToolDef = {
  id: 'pg_restore',
  label: 'pg_restore -Fc -j 2',
  shareKey: 'pg_restore',
  async setup(ctx) {
    const file = await ctx.fixture('pg-custom')
    const db = await ctx.newDatabase()
    return { command: { argv: ['pg_restore', '-Fc', '-j', '2', '-d', ctx.server.urlFor(db.name), file] }, ...verifiedTarget(ctx, db) }
  },
}

const psqlFile: ToolDef = {
  id: 'psql',
  label: 'psql -f (plain dump)',
  shareKey: 'psql',
  async setup(ctx) {
    const file = await ctx.fixture('pg-plain')
    const db = await ctx.newDatabase()
    return {
      command: { argv: ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', ctx.server.urlFor(db.name), '-f', file] },
      ...verifiedTarget(ctx, db),
    }
  },
}

/** `mysql < dump.sql` into an empty database: the MariaDB peer of restore, analyze and merge. */
const mysqlLoad: ToolDef = {
  id: 'mysql',
  label: 'mysql < dump',
  shareKey: 'mysql-load',
  async setup(ctx) {
    const file = await ctx.fixture('mysql-dump')
    const db = await ctx.newDatabase()
    const client = mysqlClientArgs(ctx.server.urlFor(db.name))
    return { command: { argv: ['mysql', ...client.args, db.name], env: client.env, stdinFile: file }, ...verifiedTarget(ctx, db) }
  },
}

function mergebackAnalyze(against: 'unchanged' | 'changed'): ToolDef {
  return {
    id: `mergeback-analyze-${against}`,
    label: `mergeback analyze (${against} db)`,
    verb: 'analyze',
    jsonReport: true,
    async setup(ctx) {
      const file = await ctx.fixture('json')
      // analyze only reads, so it runs against the kept databases themselves.
      const db = against === 'unchanged' ? ctx.sourceDb : await ctx.changedDb()
      return {
        command: { argv: ctx.mergeback(['analyze', file, '--db', ctx.server.urlFor(db), '--json']), env: { DATABASE_URL: null } },
        cleanup: async () => {},
      }
    },
  }
}

function mergebackMerge(against: 'unchanged' | 'changed'): ToolDef {
  return {
    id: `mergeback-merge-${against}`,
    label: `mergeback merge (${against} db)`,
    verb: 'merge',
    jsonReport: true,
    async setup(ctx) {
      const file = await ctx.fixture('json')
      const db = await ctx.copyDatabase(against === 'unchanged' ? ctx.sourceDb : await ctx.changedDb())
      return {
        command: { argv: ctx.mergeback(['merge', file, '--db', ctx.server.urlFor(db.name), '--yes', '--json']), env: { DATABASE_URL: null } },
        // A merge never deletes and re-inserts what was deleted: both databases end with the source's rows.
        ...verifiedTarget(ctx, db),
      }
    },
  }
}

/**
 * Not a product: PostgreSQL writing every row as JSON itself (`row_to_json`), over two sessions
 * in parallel (`Message`, the biggest table, on one; the rest on the other), into files. What a
 * JSON backup cannot beat on this machine; a lower bound for `backup`, not a format mergeback
 * could use as it is (bytea, bigint, numeric and timestamptz are not in the wire encoding).
 */
const postgresJsonFloor: ToolDef = {
  id: 'floor-json-copy',
  label: 'floor: COPY row_to_json, 2 sessions',
  async setup(ctx) {
    const out = await ctx.newOutputDir('floor-json-copy')
    const copy = (table: string) => `COPY (SELECT row_to_json(t) FROM "${table}" t) TO STDOUT`
    const psql = (file: string, tables: string[]) =>
      `psql -X -q -d "$1" -o "${file}" ${tables.map((t) => `-c '${copy(t)}'`).join(' ')}`
    // Exit non-zero when either session fails (a bare `wait` would always succeed).
    const script =
      `${psql(path.join(out.dir, 'messages.json'), ['Message'])} & a=$!; ` +
      `${psql(path.join(out.dir, 'rest.json'), ['User', 'Room', 'Registration', 'RoomAllocation'])} & b=$!; ` +
      'wait $a && wait $b'
    return { command: { argv: ['bash', '-c', script, 'floor', ctx.server.urlFor(ctx.sourceDb)] }, outputDir: out.dir, cleanup: out.remove }
  },
}

/** Not a product either: `gzip -1` of the plain SQL dump, the least CPU a gzip backup of this data needs on one core. */
const gzipFloor: ToolDef = {
  id: 'floor-gzip-1',
  label: 'floor: gzip -1 of the plain dump, 1 core',
  async setup(ctx) {
    const input = await ctx.fixture('pg-plain')
    const out = await ctx.newOutputDir('floor-gzip-1')
    return {
      command: { argv: ['sh', '-c', 'gzip -1 -c "$1" > "$2"', 'floor', input, path.join(out.dir, 'dump.sql.gz')] },
      outputDir: out.dir,
      cleanup: out.remove,
    }
  },
}

/** Issue #17's targets for analyze and merge, where the issue sets them (PostgreSQL). */
interface AnalyzeMergeTargets {
  readonly analyzeUnchanged?: number
  readonly analyzeChanged?: number
  readonly mergeChanged?: number
}

/**
 * The analyze and merge groups of an engine: each against an unchanged and a changed database (10 %
 * changed, 5 % deleted), beside `peer`, the engine's own tool loading the same data into an empty
 * database (the nearest thing a user would otherwise run).
 */
function analyzeAndMergeGroups(engine: BenchEngine, peer: ToolDef, peerName: string, peerTitle: string, targets: AnalyzeMergeTargets = {}): GroupDef[] {
  const group = (command: 'analyze' | 'merge', tool: (database: 'unchanged' | 'changed') => ToolDef, unchanged?: number, changed?: number): GroupDef => ({
    id: command,
    engine,
    title: `${command} (peer: ${peerTitle})`,
    tools: [tool('unchanged'), peer, tool('changed')],
    comparisons: [
      { label: `${command}, unchanged db vs ${peerName}`, tool: `mergeback-${command}-unchanged`, peer: peer.id, metric: 'seconds', target: unchanged },
      { label: `${command}, 10 % changed / 5 % deleted vs ${peerName}`, tool: `mergeback-${command}-changed`, peer: peer.id, metric: 'seconds', target: changed },
    ],
  })
  return [group('analyze', mergebackAnalyze, targets.analyzeUnchanged, targets.analyzeChanged), group('merge', mergebackMerge, undefined, targets.mergeChanged)]
}

/** The groups for an engine, in the order they run (backups first: they make the fixtures). */
export function groupsFor(engine: BenchEngine): GroupDef[] {
  if (engine === 'sqlite') return sqliteGroups(engine)
  if (engine === 'postgres') {
    return [
      {
        id: 'backup',
        engine,
        title: 'backup, plain',
        tools: [mergebackBackup('plain'), pgDump('plain')],
        comparisons: [
          { label: 'backup, plain JSON vs pg_dump -Fp', tool: 'mergeback-backup-plain', peer: 'pg_dump-plain', metric: 'seconds', target: 1.3 },
          { label: 'backup size, plain JSON vs pg_dump -Fp', tool: 'mergeback-backup-plain', peer: 'pg_dump-plain', metric: 'bytes' },
        ],
      },
      {
        id: 'backup-gzip',
        engine,
        title: 'backup, compressed (and encrypted)',
        tools: [mergebackBackup('gzip'), pgDump('custom'), mergebackBackup('zstd'), mergebackBackup('encrypted')],
        comparisons: [
          { label: 'backup, gzip vs pg_dump -Fc', tool: 'mergeback-backup-gzip', peer: 'pg_dump-custom', metric: 'seconds', target: 0.7 },
          { label: 'backup, zstd vs pg_dump -Fc', tool: 'mergeback-backup-zstd', peer: 'pg_dump-custom', metric: 'seconds', target: 0.5 },
          { label: 'backup size, zstd vs pg_dump -Fc', tool: 'mergeback-backup-zstd', peer: 'pg_dump-custom', metric: 'bytes' },
          { label: 'backup, gzip + encrypt vs pg_dump -Fc', tool: 'mergeback-backup-encrypted', peer: 'pg_dump-custom', metric: 'seconds' },
          { label: 'backup size, gzip vs pg_dump -Fc', tool: 'mergeback-backup-gzip', peer: 'pg_dump-custom', metric: 'bytes' },
          { label: 'encryption cost: gzip + encrypt vs gzip', tool: 'mergeback-backup-encrypted', peer: 'mergeback-backup-gzip', metric: 'seconds' },
        ],
      },
      {
        id: 'restore',
        engine,
        title: 'restore into an empty database',
        tools: [mergebackRestore, pgRestore, psqlFile],
        comparisons: [
          { label: 'restore vs pg_restore -Fc -j 2', tool: 'mergeback-restore', peer: 'pg_restore', metric: 'seconds', target: 1.2 },
          { label: 'restore vs psql -f', tool: 'mergeback-restore', peer: 'psql', metric: 'seconds', target: 1.0 },
        ],
      },
      ...analyzeAndMergeGroups(engine, pgRestore, 'pg_restore -Fc -j 2', 'pg_restore into an empty database', { analyzeUnchanged: 0.8, analyzeChanged: 1.5, mergeChanged: 1.5 }),
      {
        id: 'floor',
        engine,
        title: 'floors: what the machine can do at best (not products)',
        tools: [postgresJsonFloor, gzipFloor],
        comparisons: [
          { label: 'floor: PostgreSQL-made JSON vs pg_dump -Fp', tool: 'floor-json-copy', peer: 'pg_dump-plain', metric: 'seconds' },
          { label: 'floor: gzip -1 of the plain dump vs pg_dump -Fc', tool: 'floor-gzip-1', peer: 'pg_dump-custom', metric: 'seconds' },
        ],
      },
    ]
  }
  return [
    {
      id: 'backup',
      engine,
      title: 'backup, plain',
      tools: [mergebackBackup('plain'), mysqldump],
      comparisons: [
        { label: 'backup, plain JSON vs mysqldump', tool: 'mergeback-backup-plain', peer: 'mysqldump', metric: 'seconds', target: 1.5 },
        { label: 'backup size, plain JSON vs mysqldump', tool: 'mergeback-backup-plain', peer: 'mysqldump', metric: 'bytes' },
      ],
    },
    {
      id: 'restore',
      engine,
      title: 'restore into an empty database',
      tools: [mergebackRestore, mysqlLoad],
      comparisons: [{ label: 'restore vs mysql < dump', tool: 'mergeback-restore', peer: 'mysql', metric: 'seconds', target: 1.0 }],
    },
    ...analyzeAndMergeGroups(engine, mysqlLoad, 'mysql < dump', 'mysql < dump into an empty database'),
  ]
}

function sqliteGroups(engine: BenchEngine): GroupDef[] {
  return [
    {
      id: 'backup',
      engine,
      title: 'backup, plain',
      tools: [mergebackBackup('plain'), sqliteDump],
      comparisons: [
        { label: 'backup, plain JSON vs sqlite3 .dump', tool: 'mergeback-backup-plain', peer: 'sqlite3-dump', metric: 'seconds', target: 1.0 },
        { label: 'backup size, plain JSON vs sqlite3 .dump', tool: 'mergeback-backup-plain', peer: 'sqlite3-dump', metric: 'bytes' },
      ],
    },
    {
      id: 'backup-gzip',
      engine,
      title: 'backup, compressed (and encrypted)',
      tools: [mergebackBackup('gzip'), mergebackBackup('zstd'), mergebackBackup('encrypted')],
      comparisons: [
        { label: 'backup, zstd vs gzip', tool: 'mergeback-backup-zstd', peer: 'mergeback-backup-gzip', metric: 'seconds' },
        { label: 'backup size, zstd vs gzip', tool: 'mergeback-backup-zstd', peer: 'mergeback-backup-gzip', metric: 'bytes' },
        { label: 'encryption cost: gzip + encrypt vs gzip', tool: 'mergeback-backup-encrypted', peer: 'mergeback-backup-gzip', metric: 'seconds' },
      ],
    },
    {
      id: 'restore',
      engine,
      title: 'restore into a new database file',
      tools: [mergebackRestore, sqliteLoad],
      comparisons: [{ label: 'restore vs sqlite3 < dump', tool: 'mergeback-restore', peer: 'sqlite3-load', metric: 'seconds', target: 1.0 }],
    },
    ...analyzeAndMergeGroups(engine, sqliteLoad, 'sqlite3 < dump', 'sqlite3 < dump into a new file'),
  ]
}

/** The tools that make each fixture when no group has made it yet. */
export function fixtureProducer(key: FixtureKey): ToolDef {
  switch (key) {
    case 'json':
      return mergebackBackup('plain')
    case 'pg-custom':
      return pgDump('custom')
    case 'pg-plain':
      return pgDump('plain')
    case 'mysql-dump':
      return mysqldump
    case 'sqlite-dump':
      return sqliteDump
  }
}
