import { describe, expect, it } from 'vitest'
import { foreignKeyOrder, isForeignKeyOrdered } from './table-order.js'

const fk = (referencedTable: string) => ({ name: `fk_${referencedTable}`, columns: ['x'], referencedTable, referencedColumns: ['id'] })
const t = (name: string, ...refs: string[]) => ({ name, foreignKeys: refs.map(fk) })

describe('foreignKeyOrder', () => {
  it('puts parents before children and keeps the given order otherwise', () => {
    const { ordered, cyclic } = foreignKeyOrder([t('Allocation', 'Room', 'Registration'), t('Message', 'User'), t('Registration', 'User'), t('Room'), t('User')])
    expect(ordered.map((x) => x.name)).toEqual(['Room', 'User', 'Message', 'Registration', 'Allocation'])
    expect(cyclic).toEqual([])
  })

  it('ignores self-references and references to tables outside the set', () => {
    const { ordered } = foreignKeyOrder([t('Employee', 'Employee', 'Department'), t('Audit Log')])
    expect(ordered.map((x) => x.name)).toEqual(['Employee', 'Audit Log'])
  })

  it('appends tables on a cycle and names them', () => {
    const { ordered, cyclic } = foreignKeyOrder([t('A', 'B'), t('B', 'A'), t('C')])
    expect(ordered.map((x) => x.name)).toEqual(['C', 'A', 'B'])
    expect(cyclic).toEqual(['A', 'B'])
  })
})

describe('isForeignKeyOrdered', () => {
  it('accepts parents first and rejects a child before its parent', () => {
    expect(isForeignKeyOrdered([t('User'), t('Registration', 'User')])).toBe(true)
    expect(isForeignKeyOrdered([t('Registration', 'User'), t('User')])).toBe(false)
  })
})

describe('foreignKeyOrder with the foreign keys of partitions (issue #14 item 6)', () => {
  it('puts a partitioned table after the tables its partitions reference', () => {
    const tables = [
      { name: 'a_orders', foreignKeys: [], options: { partitioned: true, partitionReferences: ['customers'] } },
      { name: 'customers', foreignKeys: [] },
    ]
    expect(foreignKeyOrder(tables).ordered.map((t) => t.name)).toEqual(['customers', 'a_orders'])
    expect(isForeignKeyOrdered(tables)).toBe(false)
    expect(isForeignKeyOrdered([tables[1], tables[0]])).toBe(true)
  })
})
