import { describe, expect, it } from 'vitest'
import { UsageError } from '../errors.js'
import { applyRetention, isoWeek, type RetentionPolicy } from './retention.js'

// Newest first, so the expectations below read top-down. ISO weeks: 2026-01-01 is a Thursday.
const TIMES = [
  '2026-03-01T10:00:00Z', // 0  Sun  W09
  '2026-02-15T10:00:00Z', // 1  Sun  W07
  '2026-02-01T10:00:00Z', // 2  Sun  W05
  '2026-01-12T10:00:00Z', // 3  Mon  W03
  '2026-01-05T10:00:00Z', // 4  Mon  W02
  '2026-01-02T10:00:00Z', // 5  Fri  W01
  '2026-01-01T22:00:00Z', // 6  Thu  W01
  '2026-01-01T10:00:00Z', // 7  Thu  W01
]
const backups = TIMES.map((createdAt, i) => ({ file: `daily-${i}.json`, name: 'daily', createdAt }))

function kept(policy: RetentionPolicy, input = backups): number[] {
  return applyRetention(input, policy)
    .map((d, i) => (d.keep ? i : -1))
    .filter((i) => i >= 0)
}

describe('retention (restic forget semantics)', () => {
  const cases: { policy: RetentionPolicy; keep: number[] }[] = [
    { policy: { keepLast: 1 }, keep: [0] },
    { policy: { keepLast: 3 }, keep: [0, 1, 2] },
    { policy: { keepLast: 100 }, keep: [0, 1, 2, 3, 4, 5, 6, 7] },
    { policy: { keepDaily: 3 }, keep: [0, 1, 2] },
    // One per day that has backups: of the two on 2026-01-01 only the later one.
    { policy: { keepDaily: 10 }, keep: [0, 1, 2, 3, 4, 5, 6] },
    { policy: { keepWeekly: 2 }, keep: [0, 1] },
    // W01 holds three backups; the newest of them (Jan 2) is the week's.
    { policy: { keepWeekly: 10 }, keep: [0, 1, 2, 3, 4, 5] },
    { policy: { keepMonthly: 2 }, keep: [0, 1] },
    { policy: { keepMonthly: 12 }, keep: [0, 1, 3] },
    // A backup kept by any rule stays; the rules do not add up to "last N then monthly".
    { policy: { keepLast: 1, keepMonthly: 3 }, keep: [0, 1, 3] },
    { policy: { keepLast: 2, keepWeekly: 3, keepMonthly: 3 }, keep: [0, 1, 2, 3] },
    { policy: { keepDaily: 2, keepWeekly: 4 }, keep: [0, 1, 2, 3] },
    { policy: { keepLast: 0, keepMonthly: 1 }, keep: [0] },
  ]
  for (const { policy, keep } of cases) {
    it(`${JSON.stringify(policy)} keeps ${JSON.stringify(keep)}`, () => {
      expect(kept(policy)).toEqual(keep)
    })
  }

  it('gives every reason a backup is kept, and none for a removed one', () => {
    const decisions = applyRetention(backups, { keepLast: 1, keepDaily: 2, keepWeekly: 1, keepMonthly: 2 })
    expect(decisions[0]?.reasons).toEqual(['last', 'daily 2026-03-01', 'weekly 2026-W09', 'monthly 2026-03'])
    expect(decisions[1]?.reasons).toEqual(['daily 2026-02-15', 'monthly 2026-02'])
    expect(decisions[2]).toMatchObject({ keep: false, reasons: [] })
  })

  it('does not depend on the order of the input', () => {
    const shuffled = [backups[3], backups[0], backups[7], backups[5], backups[1], backups[6], backups[2], backups[4]].map((b) => b!)
    const decisions = applyRetention(shuffled, { keepMonthly: 12 })
    expect(decisions.filter((d) => d.keep).map((d) => d.backup.file).sort()).toEqual(['daily-0.json', 'daily-1.json', 'daily-3.json'])
  })

  it('applies the rules to each backup name separately, unless groupBy none', () => {
    const mixed = [
      { file: 'a-new', name: 'a', createdAt: '2026-03-02T00:00:00Z' },
      { file: 'b-new', name: 'b', createdAt: '2026-03-01T00:00:00Z' },
      { file: 'a-old', name: 'a', createdAt: '2026-02-01T00:00:00Z' },
      { file: 'b-old', name: 'b', createdAt: '2026-01-01T00:00:00Z' },
    ]
    expect(kept({ keepLast: 1 }, mixed)).toEqual([0, 1])
    expect(kept({ keepLast: 1, groupBy: 'none' }, mixed)).toEqual([0])
  })

  it('always keeps the newest backup of a group under any non-empty policy', () => {
    for (const policy of [{ keepLast: 1 }, { keepDaily: 1 }, { keepWeekly: 1 }, { keepMonthly: 1 }]) expect(kept(policy)).toContain(0)
  })

  it('refuses an empty or invalid policy', () => {
    for (const policy of [{}, { keepLast: 0 }, { keepLast: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 }]) {
      expect(() => applyRetention(backups, policy), JSON.stringify(policy)).toThrow(UsageError)
    }
    expect(() => applyRetention(backups, { keepLast: -1 })).toThrow(UsageError)
    expect(() => applyRetention(backups, { keepDaily: 1.5 })).toThrow(UsageError)
    expect(() => applyRetention(backups, { keepLast: 1, groupBy: 'host' as 'name' })).toThrow(UsageError)
  })

  it('numbers ISO weeks across year ends', () => {
    expect(isoWeek(new Date('2025-12-29T00:00:00Z'))).toBe('2026-W01')
    expect(isoWeek(new Date('2026-01-01T00:00:00Z'))).toBe('2026-W01')
    expect(isoWeek(new Date('2026-12-31T23:59:59Z'))).toBe('2026-W53')
    expect(isoWeek(new Date('2027-01-03T00:00:00Z'))).toBe('2026-W53')
    expect(isoWeek(new Date('2027-01-04T00:00:00Z'))).toBe('2027-W01')
    expect(isoWeek(new Date('2021-01-03T00:00:00Z'))).toBe('2020-W53')
  })
})
