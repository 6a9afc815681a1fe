/**
 * Summarizes V8 CPU profiles (`node --cpu-prof`, as `npm run bench -- --cpu-prof DIR` writes them):
 * where the time went, by function and by source file, as self time.
 *
 *   node --import tsx bench/profile-summary.ts DIR/CPU.*.cpuprofile [--top 25] [--callers NAME]
 *
 * `--callers NAME` shows, for the functions named NAME (a native one such as `read` or
 * `writeBuffer`, say), which JavaScript functions called them, with the self time charged to each.
 *
 * Self time of a function is the sum of the sampling intervals in which it was on top of the
 * stack. "(garbage collector)", "(program)" (the VM itself and native code such as zlib and
 * crypto called synchronously) and "(idle)" (waiting for I/O: the database or the disk) are kept
 * as they are, because they are often the answer.
 */
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: readonly number[]
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly startTime: number
  readonly endTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

export interface ProfileLine {
  readonly name: string
  readonly selfMs: number
  readonly share: number
}

/** Self time by function and by file, largest first. Throws when the file is not a CPU profile. */
export function summarizeProfile(profile: CpuProfile, root = process.cwd()): { totalMs: number; functions: ProfileLine[]; files: ProfileLine[] } {
  if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples)) throw new Error('not a V8 CPU profile (no nodes/samples)')
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  // timeDeltas[i] is the time between sample i-1 and sample i; charge it to sample i's node.
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const functions = new Map<string, number>()
  const files = new Map<string, number>()
  let totalUs = 0
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame
    if (!frame) continue
    totalUs += us
    const file = frame.url ? shortFile(frame.url, root) : ''
    const fn = `${frame.functionName || '(anonymous)'}${file ? ` ${file}:${frame.lineNumber + 1}` : ''}`
    functions.set(fn, (functions.get(fn) ?? 0) + us)
    const fileKey = file || frame.functionName
    files.set(fileKey, (files.get(fileKey) ?? 0) + us)
  }
  const lines = (m: Map<string, number>) =>
    [...m.entries()].map(([name, us]) => ({ name, selfMs: us / 1000, share: totalUs ? us / totalUs : 0 })).sort((a, b) => b.selfMs - a.selfMs)
  return { totalMs: totalUs / 1000, functions: lines(functions), files: lines(files) }
}

/**
 * Self time of the functions named `name`, by call stack: the nearest `depth` callers that are not
 * themselves named `name`, innermost first. Largest first.
 */
export function callersOf(profile: CpuProfile, name: string, depth = 3, root = process.cwd()): ProfileLine[] {
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const label = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}${n.callFrame.url ? ` ${shortFile(n.callFrame.url, root)}:${n.callFrame.lineNumber + 1}` : ''}`
  const totals = new Map<string, number>()
  let all = 0
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)
    if (!node || node.callFrame.functionName !== name) return
    const stack: string[] = []
    for (let p = parent.get(id); p !== undefined && stack.length < depth; p = parent.get(p)) {
      const caller = byId.get(p)
      if (caller && caller.callFrame.functionName !== name) stack.push(label(caller))
    }
    const key = stack.join(' ← ') || '(root)'
    const us = profile.timeDeltas[i] ?? 0
    totals.set(key, (totals.get(key) ?? 0) + us)
    all += us
  })
  return [...totals.entries()].map(([n, us]) => ({ name: n, selfMs: us / 1000, share: all ? us / all : 0 })).sort((a, b) => b.selfMs - a.selfMs)
}

function shortFile(url: string, root: string): string {
  const file = url.startsWith('file://') ? new URL(url).pathname : url
  const nm = file.lastIndexOf('/node_modules/')
  if (nm >= 0) return file.slice(nm + 1)
  return path.isAbsolute(file) ? path.relative(root, file) : file
}

function cli(): void {
  const { values, positionals } = parseArgs({ options: { top: { type: 'string', default: '25' }, callers: { type: 'string' } }, allowPositionals: true })
  if (positionals.length === 0) throw new Error('usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile… [--top N]')
  const top = Number(values.top)
  for (const file of positionals) {
    const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile
    if (values.callers) {
      console.log(`# ${file}: callers of ${values.callers}`)
      for (const l of callersOf(profile, values.callers).slice(0, top)) console.log(`${l.selfMs.toFixed(0).padStart(9)} ms ${(l.share * 100).toFixed(1).padStart(5)} %  ${l.name}`)
      continue
    }
    const summary = summarizeProfile(profile)
    const show = (title: string, lines: ProfileLine[]) => {
      console.log(`\n${title}`)
      for (const l of lines.slice(0, top)) console.log(`${l.selfMs.toFixed(0).padStart(9)} ms ${(l.share * 100).toFixed(1).padStart(5)} %  ${l.name}`)
    }
    console.log(`# ${file}: ${(summary.totalMs / 1000).toFixed(2)} s sampled`)
    show('self time by file:', summary.files)
    show('self time by function:', summary.functions)
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    cli()
  } catch (error) {
    console.error(`bench/profile-summary: ${(error as Error).message}`)
    process.exitCode = 1
  }
}
