import { describe, expect, it } from 'vitest'
import type { ColumnSchema, TableSchema } from '../adapter.js'
import { createTableStatement } from './mysql-introspector.js'

const column = (name: string, type: string, kind: ColumnSchema['kind'], extra: Partial<ColumnSchema> = {}): ColumnSchema => ({
  name,
  type,
  kind,
  nullable: true,
  ...extra,
})

const definition = [
  'CREATE TABLE `t` (',
  '  `id` int(11) NOT NULL AUTO_INCREMENT,',
  '  `email` varchar(100) NOT NULL,',
  '  `name` varchar(50) DEFAULT NULL,',
  '  PRIMARY KEY (`id`),',
  '  UNIQUE KEY `uq_email` (`email`),',
  '  KEY `ix_name` (`name`),',
  '  KEY `ix_expr` ((lower(`name`)))',
  ') ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci',
].join('\n')

const mysqlTable: TableSchema = {
  name: 't',
  columns: [
    column('id', 'int(11)', 'integer', { nullable: false, autoIncrement: true }),
    column('email', 'varchar(100)', 'text', { nullable: false }),
    column('name', 'varchar(50)', 'text', { default: 'NULL' }),
  ],
  primaryKey: ['id'],
  uniqueConstraints: [{ name: 'uq_email', columns: ['email'] }],
  indexes: [{ name: 'ix_name', columns: ['name'], unique: false }],
  foreignKeys: [],
  options: { engine: 'InnoDB', charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci', definition, indexNames: ['ix_name'] },
}

describe('createTableStatement from a MySQL backup', () => {
  it('uses the backed-up definition as it is', () => {
    expect(createTableStatement(mysqlTable, 'mysql').sql).toBe(definition)
  })

  it('drops plain indexes a --no-indexes backup left out, keeping expression indexes and the comma grammar', () => {
    const sql = createTableStatement({ ...mysqlTable, indexes: [] }, 'mysql').sql
    expect(sql).not.toContain('ix_name')
    expect(sql).toContain('KEY `ix_expr` ((lower(`name`)))\n)')
    expect(sql).toContain('UNIQUE KEY `uq_email` (`email`),')
  })

  it('drops the last index without leaving a dangling comma', () => {
    const def = definition.replace(',\n  KEY `ix_expr` ((lower(`name`)))', '')
    const sql = createTableStatement({ ...mysqlTable, indexes: [], options: { ...mysqlTable.options, definition: def } }, 'mysql').sql
    expect(sql).toContain('UNIQUE KEY `uq_email` (`email`)\n)')
  })

  it('builds from column types when asked not to use the definition', () => {
    const { sql } = createTableStatement(mysqlTable, 'mysql', false)
    expect(sql).toContain('`id` int(11) NOT NULL AUTO_INCREMENT')
    expect(sql).toContain('`name` varchar(50) DEFAULT NULL')
    expect(sql).toContain('PRIMARY KEY (`id`)')
    expect(sql).toContain('UNIQUE KEY `uq_email` (`email`)')
    expect(sql).toContain('KEY `ix_name` (`name`)')
    expect(sql).toMatch(/ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci$/)
  })
})

describe('createTableStatement from another engine', () => {
  const pgTable: TableSchema = {
    name: 'Room Allocation',
    columns: [
      column('roomId', 'integer', 'integer', { nullable: false }),
      column('registrationId', 'text', 'text', { nullable: false }),
      column('price', 'numeric(10,2)', 'decimal'),
      column('ratio', 'numeric', 'decimal'),
      column('weight', 'real', 'float'),
      column('score', 'double precision', 'float'),
      column('active', 'boolean', 'boolean'),
      column('code', 'character varying(20)', 'text'),
      column('letter', 'character(1)', 'text'),
      column('uid', 'uuid', 'text'),
      column('photo', 'bytea', 'binary'),
      column('born', 'date', 'date'),
      column('createdAt', 'timestamp(3) with time zone', 'timestamptz'),
      column('at', 'time without time zone', 'time'),
      column('span', 'interval', 'interval'),
      column('meta', 'jsonb', 'json'),
      column('tags', 'text[]', 'array', { elementKind: 'text' }),
      column('status', 'status', 'enum', { enumValues: ['new', "it's"] }),
      column('flags', 'bit(3)', 'bit'),
      column('big', 'bigint', 'bigint'),
      column('total', 'integer', 'integer', { generated: '"roomId" * 2' }),
    ],
    primaryKey: ['roomId', 'registrationId'],
    uniqueConstraints: [],
    indexes: [{ name: 'ix_code', columns: ['code'], unique: false }],
    foreignKeys: [
      { name: 'fk_room', columns: ['roomId'], referencedTable: 'Room', referencedColumns: ['id'], onDelete: 'CASCADE', onUpdate: 'SET DEFAULT' },
    ],
  }

  it('maps every kind to an exact MySQL type', () => {
    const { sql, warnings } = createTableStatement(pgTable, 'postgres')
    for (const expected of [
      'CREATE TABLE `Room Allocation` (',
      '`roomId` INT NOT NULL',
      '`registrationId` VARCHAR(255) NOT NULL',
      '`price` DECIMAL(10,2)',
      '`ratio` DECIMAL(65,30)',
      '`weight` FLOAT',
      '`score` DOUBLE',
      '`active` BOOLEAN',
      '`code` VARCHAR(20)',
      // VARCHAR, not CHAR: MariaDB strips a CHAR's trailing spaces, PostgreSQL keeps them.
      '`letter` VARCHAR(1)',
      '`uid` CHAR(36)',
      '`photo` LONGBLOB',
      '`born` DATE',
      '`createdAt` DATETIME(3)',
      '`at` TIME(6)',
      '`span` VARCHAR(255)',
      '`meta` JSON',
      '`tags` JSON',
      "`status` ENUM('new', 'it\\'s')",
      '`flags` BIT(3)',
      '`big` BIGINT',
      '`total` INT',
      'PRIMARY KEY (`roomId`, `registrationId`)',
      'KEY `ix_code` (`code`)',
      'CONSTRAINT `fk_room` FOREIGN KEY (`roomId`) REFERENCES `Room` (`id`) ON DELETE CASCADE',
      'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
    ]) {
      expect(sql).toContain(expected)
    }
    expect(sql).not.toContain('GENERATED')
    expect(sql).not.toContain('SET DEFAULT')
    expect(warnings.join('\n')).toMatch(/ratio.*DECIMAL\(65,30\)/)
    expect(warnings.join('\n')).toMatch(/registrationId.*VARCHAR\(255\)/)
    expect(warnings.join('\n')).toMatch(/SET DEFAULT is not supported/)
    expect(warnings.join('\n')).toMatch(/total: a generated column/)
  })

  it('creates untyped Smart Backup columns as text and says so', () => {
    const seed: TableSchema = {
      name: 'User',
      columns: [column('id', '', 'unknown'), column('email', '', 'unknown')],
      primaryKey: ['id'],
      uniqueConstraints: [],
      indexes: [],
      foreignKeys: [],
    }
    const { sql, warnings } = createTableStatement(seed, 'mysql')
    expect(sql).toContain('`id` VARCHAR(255)')
    expect(sql).toContain('`email` LONGTEXT')
    expect(warnings).toEqual([expect.stringMatching(/no column types.*2 column/)])
  })

  it('uses 64-bit integers for SQLite INTEGER and AUTO_INCREMENT only on key columns', () => {
    const { sql } = createTableStatement(
      {
        name: 's',
        columns: [column('id', 'INTEGER', 'integer', { nullable: false, autoIncrement: true }), column('n', 'INTEGER', 'integer', { autoIncrement: true })],
        primaryKey: ['id'],
        uniqueConstraints: [],
        indexes: [],
        foreignKeys: [],
      },
      'sqlite',
    )
    expect(sql).toContain('`id` BIGINT NOT NULL AUTO_INCREMENT')
    expect(sql).toContain('`n` BIGINT,')
  })
})
