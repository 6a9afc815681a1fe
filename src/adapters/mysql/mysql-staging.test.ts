import { describe, expect, it } from 'vitest'
import { isStagingTable, newRunId, STAGE_PREFIX, OLD_PREFIX, StagingSet, stagingName } from './mysql-staging.js'

describe('staging names', () => {
  it('prefix + run id + table, within 64 characters, distinct for long names sharing a start', () => {
    const id = newRunId()
    expect(id).toMatch(/^[a-z0-9]{8}$/)
    expect(stagingName(STAGE_PREFIX, id, 'orders')).toBe(`_mb_stage_${id}_orders`)
    const long1 = `${'x'.repeat(60)}_one`
    const long2 = `${'x'.repeat(60)}_two`
    const a = stagingName(STAGE_PREFIX, id, long1)
    const b = stagingName(STAGE_PREFIX, id, long2)
    expect([...a].length).toBe(64)
    expect(a).not.toBe(b)
    expect([...stagingName(OLD_PREFIX, id, 'é'.repeat(64))].length).toBeLessThanOrEqual(64)
    expect(isStagingTable(a)).toBe(true)
    expect(isStagingTable(stagingName(OLD_PREFIX, id, 't'))).toBe(true)
    expect(isStagingTable('_mb_stage_short')).toBe(false)
    expect(isStagingTable('orders')).toBe(false)
  })

  it('rewrites a CREATE TABLE to its staging name, and foreign keys to tables of the set (itself too) only', () => {
    const set = new StagingSet('abcd1234', ['child', 'par`ent'])
    const sql = [
      'CREATE TABLE `child` (',
      '  `id` int NOT NULL,',
      '  `p` int,',
      '  `q` int,',
      '  `self` int,',
      '  PRIMARY KEY (`id`),',
      '  CONSTRAINT `fk_p` FOREIGN KEY (`p`) REFERENCES `par``ent` (`id`) ON DELETE CASCADE,',
      '  CONSTRAINT `fk_q` FOREIGN KEY (`q`, `p`) REFERENCES `existing` (`a`, `b`),',
      '  CONSTRAINT `fk_self` FOREIGN KEY (`self`) REFERENCES `child` (`id`)',
      ') ENGINE=InnoDB',
    ].join('\n')
    const staged = set.createStatement('child', sql)
    expect(staged.split('\n')[0]).toBe('CREATE TABLE `_mb_stage_abcd1234_child` (')
    expect(staged).toContain('REFERENCES `_mb_stage_abcd1234_par``ent` (`id`) ON DELETE CASCADE,')
    expect(staged).toContain('REFERENCES `existing` (`a`, `b`),')
    expect(staged).toContain('CONSTRAINT `fk_self` FOREIGN KEY (`self`) REFERENCES `_mb_stage_abcd1234_child` (`id`)')
    expect(set.renameStatement()).toBe('RENAME TABLE `_mb_stage_abcd1234_child` TO `child`, `_mb_stage_abcd1234_par``ent` TO `par``ent`')
    expect(set.realName('_mb_stage_abcd1234_child')).toBe('child')
    expect(set.sqlName('other')).toBe('other')
    expect(() => set.createStatement('child', 'CREATE TABLE `other` (x int)')).toThrow()
  })
})
