/**
 * `npm run bench:api -- [--scale 5] [--download-mb 1024] [--duration 10] [--connections 50]`
 *
 * Measures the HTTP server (issue #11's targets) on a generated PostgreSQL database
 * (bench/generate.ts, the same data as `npm run bench`):
 *  1. Backup wall time through the CLI and through the API (POST /api/backups, followed to the
 *     end of the job), alternating, `--runs` times each; ratio API / CLI (target ≤ 1.1).
 *  2. While backup jobs run back to back, `GET /api/health` and then `GET /api/backups` under
 *     autocannon (`--connections`, `--duration` seconds each): p50 / p99 latency and requests/s
 *     (target p99 ≤ 50 ms).
 *  3. Download throughput of a `--download-mb` file through `GET /api/backups/{name}/download`
 *     (curl to /dev/null) against `cat` of the same file (both from the page cache after a warm-up
 *     read); ratio (target ≥ 0.8).
 * Prints a table, writes bench/results/<time>-api-scale<N>.json, and removes everything it made.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { generate } from './generate.js'
import { postgresServer } from './servers.js'
import { BIN, BIN_ENV, BIN_NODE_FLAGS } from './bin-shebang.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '5' },
    'download-mb': { type: 'string', default: '1024' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    runs: { type: 'string', default: '2' },
    'no-build': { type: 'boolean', default: false },
    'results-dir': { type: 'string', default: path.join(ROOT, 'bench', 'results') },
  },
})
const scale = Number(values.scale)
const downloadBytes = Number(values['download-mb']) * 1024 * 1024
const duration = Number(values.duration)
const connections = Number(values.connections)
const runs = Number(values.runs)

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`
}

function timed(command: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): number {
  const started = performance.now()
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: options.env ?? process.env, maxBuffer: 64 * 1024 * 1024 })
  const elapsed = performance.now() - started
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr?.toString().slice(-2000)}`)
  return elapsed
}

interface Server {
  readonly url: string
  readonly child: ChildProcess
}

async function startServer(work: string, db: string): Promise<Server> {
  // The server's request log goes to a file: read through a pipe, it would cost this process (which
  // also runs the load generator) a line per request.
  const logFile = path.join(work, 'server.log')
  const log = fs.openSync(logFile, 'w')
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--db', db, '--dir', path.join(work, 'api-backups'), '--state', path.join(work, 'state')], {
    stdio: ['ignore', 'ignore', log],
    env: { ...process.env, ...BIN_ENV },
  })
  fs.closeSync(log)
  let exited = false
  child.once('exit', () => (exited = true))
  for (let i = 0; i < 600; i++) {
    const line = fs.readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('"msg":"listening"'))
    if (line) return { url: JSON.parse(line).url as string, child }
    if (exited) break
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`the server did not start: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`)
}

async function api(server: Server, token: string, pathname: string, init: RequestInit = {}): Promise<any> {
  const response = await fetch(`${server.url}${pathname}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) } })
  const body = await response.json()
  if (!response.ok) throw new Error(`${pathname}: ${response.status} ${JSON.stringify(body)}`)
  return body
}

/** Starts a backup job and resolves with its wall time (request to the job's `end` event). */
async function apiBackup(server: Server, token: string, name: string): Promise<number> {
  const started = performance.now()
  const { jobId } = await api(server, token, '/api/backups', { method: 'POST', body: JSON.stringify({ name }) })
  const events = await (await fetch(`${server.url}/api/jobs/${jobId}/events`, { headers: { authorization: `Bearer ${token}` } })).text()
  const elapsed = performance.now() - started
  const end = events.split('\n\n').find((block) => block.startsWith('event: end'))
  const job = JSON.parse(end?.split('\n').find((line) => line.startsWith('data:'))?.slice(5) ?? 'null')
  if (job?.state !== 'succeeded') throw new Error(`backup job ${jobId} did not succeed: ${JSON.stringify(job?.error)}`)
  return elapsed
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

async function main(): Promise<void> {
  if (!values['no-build']) timed('npm', ['run', 'build'])
  const pgServer = postgresServer()
  await pgServer.ping()
  const dbName = `mbbench_api_${process.pid}_${randomBytes(3).toString('hex')}`
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeback-bench-api-'))
  let server: Server | undefined
  const cleanup = async () => {
    server?.child.kill('SIGKILL')
    await pgServer.drop(dbName).catch(() => undefined)
    fs.rmSync(work, { recursive: true, force: true })
  }
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)))
  try {
    await pgServer.create(dbName)
    const db = pgServer.urlFor(dbName)
    const generating = performance.now()
    const counts = await generate(db, { scale })
    process.stderr.write(`generated scale ${scale} (${Object.values(counts).reduce((a, b) => a + b, 0)} rows) in ${seconds(performance.now() - generating)}\n`)

    server = await startServer(work, db)
    const created = spawnSync(process.execPath, [BIN, 'token', 'create', '--name', 'bench', '--role', 'super_admin', '--state', path.join(work, 'state'), '--json'])
    const token = JSON.parse(created.stdout.toString()).token as string

    // 1. Backup wall time, CLI vs API, alternating.
    const cli: number[] = []
    const viaApi: number[] = []
    for (let run = 0; run < runs; run++) {
      cli.push(timed(process.execPath, [...BIN_NODE_FLAGS, BIN, 'backup', '--db', db, '--out', path.join(work, 'cli-backups'), '--name', `cli${run}`], { env: { ...process.env, ...BIN_ENV } }))
      viaApi.push(await apiBackup(server, token, `api${run}`))
      process.stderr.write(`backup run ${run + 1}: CLI ${seconds(cli.at(-1)!)}, API ${seconds(viaApi.at(-1)!)}\n`)
    }

    // 2. Latency with nothing running (the machine's own baseline), then while backups run back to back.
    const idle = await autocannon({ url: `${server.url}/api/health`, connections, duration, headers: { authorization: `Bearer ${token}` } })
    process.stderr.write(`/api/health, idle: p50 ${idle.latency.p50} ms, p99 ${idle.latency.p99} ms, ${Math.round(idle.requests.average)} req/s\n`)
    let loading = true
    let backupsDuringLoad = 0
    const backgroundBackups = (async () => {
      while (loading) {
        await apiBackup(server!, token, 'load')
        backupsDuringLoad++
      }
    })()
    await new Promise((r) => setTimeout(r, 500))
    const load: Record<string, Awaited<ReturnType<typeof autocannon>>> = {}
    for (const route of ['/api/health', '/api/backups']) {
      load[route] = await autocannon({ url: `${server.url}${route}`, connections, duration, headers: { authorization: `Bearer ${token}` } })
      process.stderr.write(`${route}: p50 ${load[route]!.latency.p50} ms, p99 ${load[route]!.latency.p99} ms, ${Math.round(load[route]!.requests.average)} req/s\n`)
    }
    loading = false
    await backgroundBackups

    // 3. Download throughput against cat.
    const big = path.join(work, 'api-backups', 'download-bench.json')
    const chunk = randomBytes(1024 * 1024)
    const fd = fs.openSync(big, 'w')
    for (let written = 0; written < downloadBytes; written += chunk.length) fs.writeSync(fd, chunk)
    fs.closeSync(fd)
    const size = fs.statSync(big).size
    timed('cat', [big]) // warm the page cache
    const catMs: number[] = []
    const downloadMs: number[] = []
    for (let run = 0; run < 3; run++) {
      catMs.push(timed('sh', ['-c', `cat "${big}" > /dev/null`]))
      downloadMs.push(timed('curl', ['-sf', '-o', '/dev/null', '-H', `Authorization: Bearer ${token}`, `${server.url}/api/backups/download-bench.json/download`]))
    }
    const mbps = (ms: number) => size / 1024 / 1024 / (ms / 1000)

    const results = {
      time: new Date().toISOString(),
      scale,
      rows: counts,
      machine: { cpus: os.cpus().length, loadavg: os.loadavg() },
      backup: { cliMs: cli, apiMs: viaApi, ratio: median(viaApi) / median(cli) },
      load: Object.fromEntries(
        Object.entries(load).map(([route, r]) => [route, { p50: r.latency.p50, p99: r.latency.p99, reqPerSec: r.requests.average, errors: r.errors, non2xx: r.non2xx, timeouts: r.timeouts }]),
      ),
      idle: { p50: idle.latency.p50, p99: idle.latency.p99, reqPerSec: idle.requests.average },
      backupsDuringLoad,
      download: { bytes: size, catMs, downloadMs, catMBps: mbps(median(catMs)), downloadMBps: mbps(median(downloadMs)), ratio: median(catMs) / median(downloadMs) },
    }
    const lines = [
      `mergeback API bench — scale ${scale}, PostgreSQL, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
      '',
      '| measure | value | target |',
      '| --- | --- | --- |',
      `| backup wall time, CLI (median of ${runs}) | ${seconds(median(cli))} | |`,
      `| backup wall time, API job (median of ${runs}) | ${seconds(median(viaApi))} | |`,
      `| API / CLI | ${results.backup.ratio.toFixed(2)} × | ≤ 1.1 × |`,
      `| GET /api/health, no job running: p50 / p99 | ${idle.latency.p50} / ${idle.latency.p99} ms | |`,
      `| GET /api/health, no job running: requests/s | ${Math.round(idle.requests.average)} | |`,
      ...Object.entries(results.load).flatMap(([route, r]) => [
        `| GET ${route} during backups: p50 / p99 | ${r.p50} / ${r.p99} ms | p99 ≤ 50 ms |`,
        `| GET ${route} during backups: requests/s (${connections} connections, ${duration} s; errors ${r.errors}, non-2xx ${r.non2xx}) | ${Math.round(r.reqPerSec)} | |`,
      ]),
      `| backup jobs completed during the load | ${backupsDuringLoad} | |`,
      `| download ${(size / 1024 / 1024).toFixed(0)} MiB via API (curl, median of 3) | ${results.download.downloadMBps.toFixed(0)} MiB/s | |`,
      `| cat of the same file (median of 3) | ${results.download.catMBps.toFixed(0)} MiB/s | |`,
      `| download / cat | ${results.download.ratio.toFixed(2)} × | ≥ 0.8 × |`,
    ]
    process.stdout.write(`${lines.join('\n')}\n`)
    fs.mkdirSync(values['results-dir']!, { recursive: true })
    const file = path.join(values['results-dir']!, `${results.time.replace(/[:.]/g, '-')}-api-scale${scale}.json`)
    fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`)
    process.stdout.write(`\nresults: ${path.relative(ROOT, file)}\n`)
  } finally {
    await cleanup()
  }
}

await main()
