/**
 * The benchmark data set: an event-registration database, generated inside the database server.
 *
 * Schema (Prisma-style names, the shape of the app mergeback was built for):
 *   User            text key, enum role, nullable phone, timestamps with milliseconds
 *   Room            serial key, small binary photo (2 KiB, NULL for one room in ten)
 *   Registration    text key → User, enum status, numeric(10,2) amount, booleans, date, JSON metadata
 *   Message         bigint identity key → User and (for half of them) Registration, ~1 KiB body,
 *                   timestamptz with microseconds
 *   RoomAllocation  composite key (roomId, registrationId) → Room, Registration
 *
 * Size: `scale` 1 is 100 000 rows (10 000 users, 500 rooms, 30 000 registrations, 30 000 messages,
 * 29 500 allocations), about 50 MB of table data; scale 20 is 2 M rows, about 1 GB.
 *
 * Algorithm. Every value is a pure function of (seed, table, row number): a 32-bit number taken
 * from md5("<seed>:<purpose>:<row>") picks names, amounts, flags and time offsets. Rows are
 * produced by `INSERT … SELECT` over `generate_series` (PostgreSQL) or the Sequence engine's
 * `seq_1_to_N` tables (MariaDB), in chunks of CHUNK_ROWS, so nothing is shipped from Node and
 * the two engines hold the same logical data: the same keys, texts, numbers, instants and bytes
 * (PostgreSQL's jsonb orders object keys its own way; the JSON values are equal).
 *
 * Shaped for the merge benchmark (`mutate()`): the newest 5 % of users and rooms have nothing
 * pointing at them, so deleting them removes 5 % of those tables and nothing else; deleting 5 %
 * of registrations cascades to their allocations and messages, which is again about 5 % of each.
 *
 * Run on its own:  node --import tsx bench/generate.ts --db postgres://…/db --scale 1
 */
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { createHash } from 'node:crypto'
import pg from 'pg'
import Database from 'better-sqlite3'
import mysql from 'mysql2/promise'

export type BenchEngine = 'postgres' | 'mysql' | 'sqlite'

/** Rows inserted per statement: big enough to be fast, small enough to keep transactions modest. */
const CHUNK_ROWS = 100_000

/** The default seed; any string works, and the same seed always gives the same data. */
export const DEFAULT_SEED = 'mergeback-bench-1'

/** Table names in an order that satisfies the foreign keys (parents first). */
export const BENCH_TABLES = ['User', 'Room', 'Registration', 'Message', 'RoomAllocation'] as const

/** Row counts of each table for a scale (scale 1 = 100 000 rows in all). */
export interface BenchCounts {
  readonly User: number
  readonly Room: number
  readonly Registration: number
  readonly Message: number
  readonly RoomAllocation: number
}

/**
 * Row counts for `scale` (> 0). Every table gets at least one row, so a tiny scale still has
 * every shape of data. Throws RangeError for a scale that is not a positive finite number.
 */
export function countsFor(scale: number): BenchCounts {
  if (!Number.isFinite(scale) || scale <= 0) throw new RangeError(`scale must be a positive number, got ${scale}`)
  const n = (perUnit: number) => Math.max(1, Math.round(perUnit * scale))
  return { User: n(10_000), Room: n(500), Registration: n(30_000), Message: n(30_000), RoomAllocation: Math.min(n(29_500), n(30_000)) }
}

/** Users and rooms that other rows may point at: all but the newest 5 % (see the module header). */
function referenced(total: number): number {
  return Math.max(1, Math.floor(total * 0.95))
}

/** Text for message bodies: ordinary prose with some non-ASCII characters, ~2.6 KB, no backslashes or quotes. */
const PROSE =
  'Thank you for registering for the summer conference in Zürich. Your room is booked from the arrival date ' +
  'you chose, and breakfast is served from seven until ten in the café on the ground floor. Please bring a ' +
  'photo ID to the front desk; the badge printer there also prints your meal vouchers. If you travel with ' +
  'children, tell us their ages so that we can prepare the family rooms. Workshops fill up quickly: the ' +
  'schedule opens two weeks before the event and places are given in the order requests arrive. Dietary ' +
  'needs (vegetarian, vegan, halal, kosher, gluten-free) are noted on your registration and passed on to ' +
  'the kitchen; tell us about allergies by message rather than at the counter. The shuttle leaves the ' +
  'station every thirty minutes between eight in the morning and nine in the evening, and a late bus runs ' +
  'on Friday and Saturday. Parking is limited, so please share cars where you can. Accessible rooms are on ' +
  'the first floor next to the lifts; ask at the desk for a key to the quiet room. Payments can be made by ' +
  'card or bank transfer; a receipt is e-mailed to you once the amount arrives. Cancellations made more ' +
  'than thirty days before the start are refunded in full, later ones at half the price unless we can give ' +
  'your place to someone on the waiting list. Volunteers meet on the evening before the opening for a short ' +
  'briefing — coffee, tea and cake provided. We look forward to welcoming you, and remember: the lake is ' +
  'cold in June, the mountains are beautiful in every season, and the last train back leaves at 23:40. ' +
  'Naïve questions are welcome; our team speaks English, Deutsch, Français and Español. Señor Müller from ' +
  'the organising committee will open the first session; Øystein and Zoë run the evening programme.'

const FIRST_NAMES = ['Anna', 'Ben', 'Chloé', 'David', 'Elif', 'Farid', 'Grace', 'Hiro', 'Ines', 'Jonas', 'Kofi', 'Lena', 'Mateo', 'Nadia', 'Oscar', 'Priya']
const LAST_NAMES = ['Smith', 'Müller', 'García', 'Nguyen', 'Okafor', 'Rossi', 'Dubois', 'Kowalski', 'Tanaka', 'Silva', 'Andersen', 'Novak']
const BUILDINGS = ['North Wing', 'South Wing', 'Lakeside', 'Garden House']
const SOURCES = ['web', 'mobile', 'partner', 'import']
const SIZES = ['XS', 'S', 'M', 'L', 'XL']
const DIETS = ['none', 'vegetarian', 'vegan', 'gluten-free', 'halal']
const TOPICS = ['Arrival', 'Payment', 'Room change', 'Workshop', 'Dietary needs', 'Invoice']

/**
 * The SQL primitives the generator needs, written once per engine so that both engines compute
 * the very same values from the same row numbers.
 */
interface Dialect {
  readonly engine: BenchEngine
  /** Quotes an identifier. */
  q(name: string): string
  /** An unsigned 32-bit number from md5("<seed>:<purpose>:<row>"). */
  h(purpose: string, row: string): string
  /** md5("<seed>:<purpose>:<row>") as 32 hex digits. */
  md5(purpose: string, row: string): string
  concat(...parts: string[]): string
  /** Zero-padded decimal text of an integer expression. */
  pad(expr: string, width: number): string
  /** One of `values`, chosen by an unsigned expression. */
  pick(hash: string, values: readonly string[]): string
  substr(text: string, start: string, length: string): string
  /** A text expression as a value of the enum type `typeName` (PostgreSQL has no implicit cast). */
  asEnum(text: string, typeName: string): string
  /** A timestamp without zone, `micros` microseconds after 2025-01-01 00:00:00. */
  timestamp(micros: string): string
  /** The instant `micros` microseconds after 2025-01-01 00:00:00 UTC (timestamptz / DATETIME(6) in UTC). */
  instant(micros: string): string
  /** A date `days` days after 2026-06-01. */
  date(days: string): string
  /** numeric(10,2) from an integer number of cents. */
  money(cents: string): string
  jsonObject(entries: readonly (readonly [string, string])[]): string
  jsonArray(items: readonly string[]): string
  /** `bytes16 × 16` pseudo-random bytes for `row` (a correlated subquery). */
  randomBytes(purpose: string, row: string, blocks16: number): string
  /** FROM clause producing rows `from..to`, and the expression naming the row number. */
  rows(from: number, to: number): { from: string; row: string }
}

function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}

function postgresDialect(seed: string): Dialect {
  const md5 = (purpose: string, row: string) => `md5(${literal(`${seed}:${purpose}:`)} || (${row})::text)`
  return {
    engine: 'postgres',
    q: (name) => `"${name.replaceAll('"', '""')}"`,
    h: (purpose, row) => `(('x' || substr(${md5(purpose, row)}, 1, 8))::bit(32)::bigint)`,
    md5,
    concat: (...parts) => `(${parts.map((p) => `(${p})::text`).join(' || ')})`,
    pad: (expr, width) => `lpad((${expr})::text, ${width}, '0')`,
    pick: (hash, values) => `(ARRAY[${values.map(literal).join(', ')}])[(1 + (${hash}) % ${values.length})::int]`,
    substr: (text, start, length) => `substr(${text}, (${start})::int, (${length})::int)`,
    asEnum: (text, typeName) => `(${text})::"${typeName}"`,
    timestamp: (micros) => `(TIMESTAMP '2025-01-01 00:00:00' + (${micros}) * INTERVAL '1 microsecond')`,
    instant: (micros) => `(TIMESTAMPTZ '2025-01-01 00:00:00+00' + (${micros}) * INTERVAL '1 microsecond')`,
    date: (days) => `(DATE '2026-06-01' + (${days})::int)`,
    money: (cents) => `((${cents}) / 100.0)::numeric(10,2)`,
    jsonObject: (entries) => `jsonb_build_object(${entries.map(([k, v]) => `${literal(k)}, ${v}`).join(', ')})`,
    jsonArray: (items) => `jsonb_build_array(${items.join(', ')})`,
    randomBytes: (purpose, row, blocks) =>
      `(SELECT decode(string_agg(md5(${literal(`${seed}:${purpose}:`)} || (${row})::text || ':' || b::text), '' ORDER BY b), 'hex') FROM generate_series(1, ${blocks}) AS b)`,
    rows: (from, to) => ({ from: `generate_series(${from}, ${to}) AS s(i)`, row: 's.i' }),
  }
}

function mysqlDialect(seed: string): Dialect {
  const md5 = (purpose: string, row: string) => `MD5(CONCAT(${literal(`${seed}:${purpose}:`)}, ${row}))`
  return {
    engine: 'mysql',
    q: (name) => `\`${name.replaceAll('`', '``')}\``,
    h: (purpose, row) => `CAST(CONV(SUBSTRING(${md5(purpose, row)}, 1, 8), 16, 10) AS UNSIGNED)`,
    md5,
    concat: (...parts) => `CONCAT(${parts.join(', ')})`,
    pad: (expr, width) => `LPAD(${expr}, ${width}, '0')`,
    pick: (hash, values) => `ELT(1 + (${hash}) % ${values.length}, ${values.map(literal).join(', ')})`,
    substr: (text, start, length) => `SUBSTRING(${text}, ${start}, ${length})`,
    asEnum: (text) => text,
    timestamp: (micros) => `TIMESTAMPADD(MICROSECOND, ${micros}, TIMESTAMP'2025-01-01 00:00:00')`,
    instant: (micros) => `TIMESTAMPADD(MICROSECOND, ${micros}, TIMESTAMP'2025-01-01 00:00:00')`,
    date: (days) => `DATE_ADD(DATE'2026-06-01', INTERVAL (${days}) DAY)`,
    money: (cents) => `CAST((${cents}) / 100 AS DECIMAL(10,2))`,
    jsonObject: (entries) => `JSON_OBJECT(${entries.map(([k, v]) => `${literal(k)}, ${v}`).join(', ')})`,
    jsonArray: (items) => `JSON_ARRAY(${items.join(', ')})`,
    randomBytes: (purpose, row, blocks) =>
      `(SELECT UNHEX(GROUP_CONCAT(MD5(CONCAT(${literal(`${seed}:${purpose}:`)}, ${row}, ':', b.seq)) ORDER BY b.seq SEPARATOR '')) FROM seq_1_to_${blocks} AS b)`,
    rows: (from, to) => ({ from: `seq_${from}_to_${to} AS s`, row: 's.seq' }),
  }
}

/**
 * SQLite has neither md5 nor date arithmetic at microsecond precision, so the generator registers
 * a few deterministic functions on its connection (`registerSqliteFunctions`) that compute the
 * same values as PostgreSQL's and MariaDB's expressions: the data are the same rows, with SQLite's
 * own representations (timestamps as ISO text, booleans as 0/1, numeric(10,2) as REAL).
 */
function sqliteDialect(seed: string): Dialect {
  const md5 = (purpose: string, row: string) => `mb_md5(${literal(`${seed}:${purpose}:`)} || (${row}))`
  return {
    engine: 'sqlite',
    q: (name) => `"${name.replaceAll('"', '""')}"`,
    h: (purpose, row) => `mb_h32(${md5(purpose, row)})`,
    md5,
    concat: (...parts) => `(${parts.map((p) => `(${p})`).join(' || ')})`,
    pad: (expr, width) => `printf('%0${width}d', ${expr})`,
    pick: (hash, values) => `(CASE (${hash}) % ${values.length} ${values.map((v, i) => `WHEN ${i} THEN ${literal(v)}`).join(' ')} END)`,
    substr: (text, start, length) => `substr(${text}, ${start}, ${length})`,
    asEnum: (text) => text,
    timestamp: (micros) => `mb_timestamp(${micros})`,
    instant: (micros) => `mb_timestamp(${micros})`,
    date: (days) => `mb_date(${days})`,
    money: (cents) => `round((${cents}) / 100.0, 2)`,
    jsonObject: (entries) => `json_object(${entries.map(([k, v]) => `${literal(k)}, ${v}`).join(', ')})`,
    jsonArray: (items) => `json_array(${items.join(', ')})`,
    randomBytes: (purpose, row, blocks) => `mb_bytes(${literal(`${seed}:${purpose}:`)} || (${row}), ${blocks})`,
    rows: (from, to) => ({ from: `(WITH RECURSIVE c(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM c WHERE i < ${to}) SELECT i FROM c) AS s`, row: 's.i' }),
  }
}

const EPOCH_2025 = Date.UTC(2025, 0, 1)
const EPOCH_2026_06 = Date.UTC(2026, 5, 1)

/** The functions sqliteDialect's expressions call (see there). */
function registerSqliteFunctions(db: Database.Database): void {
  const md5hex = (text: string) => createHash('md5').update(text).digest('hex')
  db.function('mb_md5', { deterministic: true }, (text: unknown) => md5hex(String(text)))
  db.function('mb_h32', { deterministic: true }, (hex: unknown) => BigInt(Number.parseInt(String(hex).slice(0, 8), 16)))
  db.function('mb_timestamp', { deterministic: true }, (micros: unknown) => {
    const total = Number(micros)
    const text = new Date(EPOCH_2025 + Math.floor(total / 1000)).toISOString().slice(0, 23).replace('T', ' ')
    // timestamp(3) columns hold whole milliseconds; Message.sentAt keeps its microseconds.
    return total % 1000 === 0 ? text : `${text}${String(total % 1000).padStart(3, '0')}`
  })
  db.function('mb_date', { deterministic: true }, (days: unknown) => new Date(EPOCH_2026_06 + Number(days) * 86_400_000).toISOString().slice(0, 10))
  db.function('mb_bytes', { deterministic: true }, (prefix: unknown, blocks: unknown) => {
    const parts: Buffer[] = []
    for (let b = 1; b <= Number(blocks); b++) parts.push(Buffer.from(md5hex(`${String(prefix)}:${b}`), 'hex'))
    return Buffer.concat(parts)
  })
}

function dialectFor(engine: BenchEngine, seed: string): Dialect {
  return engine === 'postgres' ? postgresDialect(seed) : engine === 'mysql' ? mysqlDialect(seed) : sqliteDialect(seed)
}

/** The file of a `sqlite:` URL. */
export function sqliteFile(url: string): string {
  return url.replace(/^sqlite:/i, '')
}

/** `CREATE TABLE` statements (keys only; secondary indexes and foreign keys come after the load). */
function createStatements(engine: BenchEngine): string[] {
  if (engine === 'postgres') {
    return [
      `CREATE TYPE "Role" AS ENUM ('USER', 'STAFF', 'ADMIN')`,
      `CREATE TYPE "RegistrationStatus" AS ENUM ('PENDING', 'CONFIRMED', 'CANCELLED', 'WAITLISTED')`,
      `CREATE TABLE "User" (
        id text PRIMARY KEY, email text NOT NULL, name text NOT NULL, role "Role" NOT NULL DEFAULT 'USER',
        "passwordHash" text NOT NULL, "emailVerified" boolean NOT NULL DEFAULT false, phone text,
        "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" timestamp(3) NOT NULL)`,
      `CREATE TABLE "Room" (
        id serial PRIMARY KEY, name text NOT NULL, building text NOT NULL, floor smallint NOT NULL,
        capacity integer NOT NULL, photo bytea,
        "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" timestamp(3) NOT NULL)`,
      `CREATE TABLE "Registration" (
        id text PRIMARY KEY, "userId" text NOT NULL, status "RegistrationStatus" NOT NULL DEFAULT 'PENDING',
        amount numeric(10,2) NOT NULL, paid boolean NOT NULL DEFAULT false, "checkedIn" boolean NOT NULL DEFAULT false,
        "arrivalDate" date, metadata jsonb,
        "createdAt" timestamp(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" timestamp(3) NOT NULL)`,
      `CREATE TABLE "Message" (
        id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, "userId" text NOT NULL, "registrationId" text,
        subject text NOT NULL, body text NOT NULL, "isRead" boolean NOT NULL DEFAULT false,
        "sentAt" timestamptz NOT NULL, "updatedAt" timestamp(3) NOT NULL)`,
      `CREATE TABLE "RoomAllocation" (
        "roomId" integer NOT NULL, "registrationId" text NOT NULL, bed smallint NOT NULL, notes text,
        "allocatedAt" timestamp(3) NOT NULL, PRIMARY KEY ("roomId", "registrationId"))`,
    ]
  }
  if (engine === 'sqlite') {
    // The tables as Prisma's SQLite provider makes them; SQLite cannot add foreign keys after the
    // fact, so they are declared here (the load runs with foreign_keys off, like the other engines').
    const fk = (column: string, parent: string) => `FOREIGN KEY ("${column}") REFERENCES "${parent}" ("id") ON DELETE CASCADE ON UPDATE CASCADE`
    return [
      `CREATE TABLE "User" (
        "id" TEXT NOT NULL PRIMARY KEY, "email" TEXT NOT NULL, "name" TEXT NOT NULL, "role" TEXT NOT NULL DEFAULT 'USER',
        "passwordHash" TEXT NOT NULL, "emailVerified" BOOLEAN NOT NULL DEFAULT false, "phone" TEXT,
        "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" DATETIME NOT NULL)`,
      `CREATE TABLE "Room" (
        "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "name" TEXT NOT NULL, "building" TEXT NOT NULL, "floor" INTEGER NOT NULL,
        "capacity" INTEGER NOT NULL, "photo" BLOB,
        "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" DATETIME NOT NULL)`,
      `CREATE TABLE "Registration" (
        "id" TEXT NOT NULL PRIMARY KEY, "userId" TEXT NOT NULL, "status" TEXT NOT NULL DEFAULT 'PENDING',
        "amount" DECIMAL NOT NULL, "paid" BOOLEAN NOT NULL DEFAULT false, "checkedIn" BOOLEAN NOT NULL DEFAULT false,
        "arrivalDate" DATETIME, "metadata" TEXT,
        "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" DATETIME NOT NULL, ${fk('userId', 'User')})`,
      `CREATE TABLE "Message" (
        "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, "userId" TEXT NOT NULL, "registrationId" TEXT,
        "subject" TEXT NOT NULL, "body" TEXT NOT NULL, "isRead" BOOLEAN NOT NULL DEFAULT false,
        "sentAt" DATETIME NOT NULL, "updatedAt" DATETIME NOT NULL, ${fk('userId', 'User')}, ${fk('registrationId', 'Registration')})`,
      `CREATE TABLE "RoomAllocation" (
        "roomId" INTEGER NOT NULL, "registrationId" TEXT NOT NULL, "bed" INTEGER NOT NULL, "notes" TEXT,
        "allocatedAt" DATETIME NOT NULL, PRIMARY KEY ("roomId", "registrationId"), ${fk('roomId', 'Room')}, ${fk('registrationId', 'Registration')})`,
    ]
  }
  const tail = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci'
  return [
    `CREATE TABLE \`User\` (
      id VARCHAR(32) NOT NULL PRIMARY KEY, email VARCHAR(191) NOT NULL, name VARCHAR(191) NOT NULL,
      role ENUM('USER', 'STAFF', 'ADMIN') NOT NULL DEFAULT 'USER', passwordHash VARCHAR(191) NOT NULL,
      emailVerified TINYINT(1) NOT NULL DEFAULT 0, phone VARCHAR(32) NULL,
      createdAt DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), updatedAt DATETIME(3) NOT NULL) ${tail}`,
    `CREATE TABLE \`Room\` (
      id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(191) NOT NULL, building VARCHAR(191) NOT NULL,
      floor SMALLINT NOT NULL, capacity INT NOT NULL, photo MEDIUMBLOB NULL,
      createdAt DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), updatedAt DATETIME(3) NOT NULL) ${tail}`,
    `CREATE TABLE \`Registration\` (
      id VARCHAR(32) NOT NULL PRIMARY KEY, userId VARCHAR(32) NOT NULL,
      status ENUM('PENDING', 'CONFIRMED', 'CANCELLED', 'WAITLISTED') NOT NULL DEFAULT 'PENDING',
      amount DECIMAL(10,2) NOT NULL, paid TINYINT(1) NOT NULL DEFAULT 0, checkedIn TINYINT(1) NOT NULL DEFAULT 0,
      arrivalDate DATE NULL, metadata JSON NULL,
      createdAt DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), updatedAt DATETIME(3) NOT NULL) ${tail}`,
    `CREATE TABLE \`Message\` (
      id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, userId VARCHAR(32) NOT NULL, registrationId VARCHAR(32) NULL,
      subject VARCHAR(191) NOT NULL, body TEXT NOT NULL, isRead TINYINT(1) NOT NULL DEFAULT 0,
      sentAt DATETIME(6) NOT NULL, updatedAt DATETIME(3) NOT NULL) ${tail}`,
    `CREATE TABLE \`RoomAllocation\` (
      roomId INT NOT NULL, registrationId VARCHAR(32) NOT NULL, bed SMALLINT NOT NULL, notes VARCHAR(191) NULL,
      allocatedAt DATETIME(3) NOT NULL, PRIMARY KEY (roomId, registrationId)) ${tail}`,
  ]
}

/** Secondary indexes and foreign keys, added after the load (faster, as pg_restore does it). */
function constraintStatements(d: Dialect): string[] {
  const q = d.q
  const fk = (table: string, name: string, column: string, parent: string) =>
    `ALTER TABLE ${q(table)} ADD CONSTRAINT ${q(name)} FOREIGN KEY (${q(column)}) REFERENCES ${q(parent)} (${q('id')}) ON DELETE CASCADE ON UPDATE CASCADE`
  return [
    `CREATE UNIQUE INDEX ${q('User_email_key')} ON ${q('User')} (${q('email')})`,
    `CREATE INDEX ${q('Registration_userId_idx')} ON ${q('Registration')} (${q('userId')})`,
    `CREATE INDEX ${q('Message_userId_idx')} ON ${q('Message')} (${q('userId')})`,
    `CREATE INDEX ${q('Message_registrationId_idx')} ON ${q('Message')} (${q('registrationId')})`,
    `CREATE UNIQUE INDEX ${q('RoomAllocation_registrationId_key')} ON ${q('RoomAllocation')} (${q('registrationId')})`,
    // SQLite's foreign keys are part of its CREATE TABLE (createStatements).
    ...(d.engine === 'sqlite' ? [] : [fk('Registration', 'Registration_userId_fkey', 'userId', 'User'),
    fk('Message', 'Message_userId_fkey', 'userId', 'User'),
    fk('Message', 'Message_registrationId_fkey', 'registrationId', 'Registration'),
    fk('RoomAllocation', 'RoomAllocation_roomId_fkey', 'roomId', 'Room'),
    fk('RoomAllocation', 'RoomAllocation_registrationId_fkey', 'registrationId', 'Registration')]),
  ]
}

/** One `INSERT … SELECT` for rows `from..to` of `table`. */
function insertStatement(d: Dialect, table: (typeof BENCH_TABLES)[number], counts: BenchCounts, from: number, to: number): string {
  const { from: source, row: i } = d.rows(from, to)
  // The table name in the purpose keeps, say, User 7 and Room 7 from sharing their timestamps.
  const h = (purpose: string) => d.h(`${table}.${purpose}`, i)
  const userKey = (hash: string) => d.concat(`'usr_'`, d.pad(`1 + (${hash}) % ${referenced(counts.User)}`, 8))
  const registrationKey = (n: string) => d.concat(`'reg_'`, d.pad(n, 9))
  // Creation times spread over 2025 with millisecond precision; updates up to 100 days later.
  const createdMicros = `((${h('created')}) % 31536000) * 1000000 + ((${h('created-ms')}) % 1000) * 1000`
  const updatedMicros = `(${createdMicros}) + ((${h('updated')}) % 8640000) * 1000`
  const q = d.q
  const insert = (columns: readonly string[], values: readonly string[]) =>
    `INSERT INTO ${q(table)} (${columns.map(q).join(', ')}) SELECT ${values.join(',\n  ')} FROM ${source}`

  switch (table) {
    case 'User':
      return insert(
        ['id', 'email', 'name', 'role', 'passwordHash', 'emailVerified', 'phone', 'createdAt', 'updatedAt'],
        [
          d.concat(`'usr_'`, d.pad(i, 8)),
          d.concat(`'user'`, i, `'@example.com'`),
          d.concat(d.pick(h('first'), FIRST_NAMES), `' '`, d.pick(h('last'), LAST_NAMES)),
          d.asEnum(`CASE WHEN (${h('role')}) % 50 = 0 THEN 'ADMIN' WHEN (${h('role')}) % 50 < 4 THEN 'STAFF' ELSE 'USER' END`, 'Role'),
          d.md5('password', i),
          `(${h('verified')}) % 10 < 8`,
          `CASE WHEN (${h('phone')}) % 10 < 3 THEN NULL ELSE ${d.concat(`'+41 79 '`, d.pad(`(${h('phone')}) % 10000000`, 7))} END`,
          d.timestamp(createdMicros),
          d.timestamp(updatedMicros),
        ],
      )
    case 'Room':
      return insert(
        ['id', 'name', 'building', 'floor', 'capacity', 'photo', 'createdAt', 'updatedAt'],
        [
          i,
          d.concat(`'Room '`, i),
          d.pick(h('building'), BUILDINGS),
          `(${h('floor')}) % 12`,
          `1 + (${h('capacity')}) % 4`,
          `CASE WHEN (${h('photo')}) % 10 = 0 THEN NULL ELSE ${d.randomBytes('photo', i, 128)} END`,
          d.timestamp(createdMicros),
          d.timestamp(updatedMicros),
        ],
      )
    case 'Registration':
      return insert(
        ['id', 'userId', 'status', 'amount', 'paid', 'checkedIn', 'arrivalDate', 'metadata', 'createdAt', 'updatedAt'],
        [
          registrationKey(i),
          userKey(h('user')),
          d.asEnum(d.pick(h('status'), ['PENDING', 'CONFIRMED', 'CONFIRMED', 'CONFIRMED', 'CANCELLED', 'WAITLISTED']), 'RegistrationStatus'),
          d.money(`(${h('amount')}) % 5000000`),
          `(${h('paid')}) % 3 <> 0`,
          `(${h('checkin')}) % 4 = 0`,
          `CASE WHEN (${h('arrival')}) % 20 = 0 THEN NULL ELSE ${d.date(`(${h('arrival')}) % 90`)} END`,
          d.jsonObject([
            ['source', d.pick(h('source'), SOURCES)],
            ['tshirt', d.pick(h('size'), SIZES)],
            ['diet', d.pick(h('diet'), DIETS)],
            ['newsletter', `(${h('newsletter')}) % 2 = 0`],
            ['guests', `(${h('guests')}) % 4`],
            ['tags', d.jsonArray([d.pick(h('tag1'), TOPICS), d.concat(`'batch-'`, `(${h('batch')}) % 100`)])],
            ['referral', d.substr(d.md5('referral', i), '1', '12')],
          ]),
          d.timestamp(createdMicros),
          d.timestamp(updatedMicros),
        ],
      )
    case 'Message':
      return insert(
        ['id', 'userId', 'registrationId', 'subject', 'body', 'isRead', 'sentAt', 'updatedAt'],
        [
          i,
          userKey(h('user')),
          `CASE WHEN ${i} % 2 = 0 THEN ${registrationKey(`1 + (${h('registration')}) % ${counts.Registration}`)} ELSE NULL END`,
          d.concat(`'Re: '`, d.pick(h('topic'), TOPICS), `' #'`, i),
          d.concat(
            `'Hello '`,
            d.pick(h('first'), FIRST_NAMES),
            `', '`,
            d.substr(literal(PROSE), `1 + (${h('offset')}) % ${PROSE.length - 1100}`, `900 + (${h('length')}) % 200`),
            `' Ref. '`,
            d.md5('body', i),
          ),
          `(${h('read')}) % 3 = 0`,
          d.instant(`(${createdMicros}) + (${h('micros')}) % 1000`),
          d.timestamp(updatedMicros),
        ],
      )
    case 'RoomAllocation':
      return insert(
        ['roomId', 'registrationId', 'bed', 'notes', 'allocatedAt'],
        [
          `1 + (${h('room')}) % ${referenced(counts.Room)}`,
          registrationKey(i),
          `1 + (${h('bed')}) % 4`,
          `CASE WHEN (${h('notes')}) % 5 = 0 THEN ${d.concat(`'Near the '`, d.pick(h('near'), ['lift', 'stairs', 'garden', 'kitchen']))} ELSE NULL END`,
          d.timestamp(createdMicros),
        ],
      )
  }
}

/**
 * A database session the generator drives: PostgreSQL through `pg`, MariaDB through `mysql2`.
 * One connection, closed by `end()`.
 */
interface Session {
  exec(sql: string): Promise<void>
  end(): Promise<void>
}

function openSqlite(url: string): Database.Database {
  const db = new Database(sqliteFile(url))
  registerSqliteFunctions(db)
  return db
}

async function openSession(engine: BenchEngine, url: string): Promise<Session> {
  if (engine === 'sqlite') {
    const db = openSqlite(url)
    return {
      exec: async (sql) => void db.exec(sql),
      end: async () => void db.close(),
    }
  }
  if (engine === 'postgres') {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    return {
      exec: async (sql) => void (await client.query(sql)),
      end: () => client.end(),
    }
  }
  const conn = await mysql.createConnection({ uri: url, multipleStatements: false })
  return {
    exec: async (sql) => void (await conn.query(sql)),
    end: () => conn.end(),
  }
}

/** The engine of a database URL the bench can generate into. Throws for anything else. */
export function engineOf(url: string): BenchEngine {
  if (/^postgres(ql)?:\/\//i.test(url)) return 'postgres'
  if (/^(mysql|mariadb):\/\//i.test(url)) return 'mysql'
  if (/^sqlite:/i.test(url)) return 'sqlite'
  throw new Error(`bench: expected a postgres://, mysql:// or sqlite: URL, got ${url.replace(/:[^:@/]*@/, ':***@')}`)
}

export interface GenerateOptions {
  readonly scale: number
  readonly seed?: string
  /** Called with a short line after each step (table chunk, indexes, analyze). */
  readonly onProgress?: (line: string) => void
}

/**
 * Creates the schema and fills it in the (empty) database at `url`. Deterministic: the same
 * scale and seed give the same rows on every run and on both engines. Returns the row counts.
 * Throws the driver's error when the database is not empty or not reachable.
 */
export async function generate(url: string, options: GenerateOptions): Promise<BenchCounts> {
  const engine = engineOf(url)
  const counts = countsFor(options.scale)
  const d = dialectFor(engine, options.seed ?? DEFAULT_SEED)
  const say = options.onProgress ?? (() => {})
  const session = await openSession(engine, url)
  try {
    if (engine === 'mysql') {
      // The data satisfies every constraint by construction; checking row by row only slows the load.
      await session.exec('SET SESSION foreign_key_checks = 0, unique_checks = 0')
    } else if (engine === 'sqlite') {
      await session.exec('PRAGMA foreign_keys = OFF; PRAGMA synchronous = OFF; BEGIN')
    } else {
      await session.exec('SET synchronous_commit = off')
    }
    for (const sql of createStatements(engine)) await session.exec(sql)
    for (const table of BENCH_TABLES) {
      const total = counts[table]
      for (let from = 1; from <= total; from += CHUNK_ROWS) {
        const to = Math.min(total, from + CHUNK_ROWS - 1)
        await session.exec(insertStatement(d, table, counts, from, to))
        say(`${table}: ${to}/${total} rows`)
      }
    }
    for (const sql of constraintStatements(d)) await session.exec(sql)
    say('indexes and foreign keys created')
    if (engine === 'sqlite') {
      // No ANALYZE: better-sqlite3 builds with STAT4, whose table `sqlite3 .dump` writes and the
      // sqlite3 shell cannot load back, which would fail the peer's restore.
      await session.exec('COMMIT')
    } else if (engine === 'postgres') {
      await session.exec(`SELECT setval(pg_get_serial_sequence('"Room"', 'id'), ${counts.Room})`)
      await session.exec(`SELECT setval(pg_get_serial_sequence('"Message"', 'id'), ${counts.Message})`)
      // Freeze and analyze now, so that the first tool measured does not pay for hint bits and
      // visibility-map writes that every later run gets for free.
      await session.exec('VACUUM (FREEZE, ANALYZE)')
    } else {
      await session.exec(`ANALYZE TABLE ${BENCH_TABLES.map(d.q).join(', ')}`)
    }
    say('analyzed')
    return counts
  } finally {
    await session.end()
  }
}

/** What `mutate()` did, in rows per table. */
export interface MutationCounts {
  readonly updated: Readonly<Record<string, number>>
  readonly deleted: Readonly<Record<string, number>>
}

/**
 * Turns a generated database into "the database a while later", for the merge benchmark:
 * about 10 % of every table's rows changed (half of them with a newer `updatedAt` than the
 * backup, half with an older one; RoomAllocation has no timestamp, so its changes are conflicts)
 * and about 5 % deleted (the newest 5 % of users and rooms, 5 % of registrations with their
 * allocations and messages, 5 % of the other messages). Deterministic like `generate()`.
 */
export async function mutate(url: string, options: { scale: number; seed?: string }): Promise<MutationCounts> {
  const engine = engineOf(url)
  const counts = countsFor(options.scale)
  const d = dialectFor(engine, options.seed ?? DEFAULT_SEED)
  const q = d.q
  const key = (table: string) => (table === 'RoomAllocation' ? q('registrationId') : q('id'))
  const bucket = (table: string, purpose: string) => `(${d.h(purpose, key(table))}) % 100`
  const shift = (table: string) =>
    engine === 'postgres'
      ? `${q('updatedAt')} + CASE WHEN (${bucket(table, 'newer')}) < 50 THEN INTERVAL '1 day' ELSE INTERVAL '-1 day' END`
      : engine === 'sqlite'
        ? `strftime('%Y-%m-%d %H:%M:%f', ${q('updatedAt')}, CASE WHEN (${bucket(table, 'newer')}) < 50 THEN '+1 day' ELSE '-1 day' END)`
        : `${q('updatedAt')} + INTERVAL CASE WHEN (${bucket(table, 'newer')}) < 50 THEN 1 ELSE -1 END DAY`
  const changed = (table: string) => `(${bucket(table, 'change')}) BETWEEN 5 AND 14`
  const updates: Record<string, string> = {
    User: `UPDATE ${q('User')} SET ${q('name')} = ${d.concat(q('name'), `' Jr.'`)}, ${q('updatedAt')} = ${shift('User')} WHERE ${changed('User')}`,
    Room: `UPDATE ${q('Room')} SET ${q('capacity')} = ${q('capacity')} + 1, ${q('updatedAt')} = ${shift('Room')} WHERE ${changed('Room')}`,
    Registration: `UPDATE ${q('Registration')} SET ${q('paid')} = NOT ${q('paid')}, ${q('amount')} = ${q('amount')} + 10, ${q('updatedAt')} = ${shift('Registration')} WHERE ${changed('Registration')}`,
    Message: `UPDATE ${q('Message')} SET ${q('isRead')} = NOT ${q('isRead')}, ${q('updatedAt')} = ${shift('Message')} WHERE ${changed('Message')}`,
    RoomAllocation: `UPDATE ${q('RoomAllocation')} SET ${q('bed')} = 1 + ${q('bed')} % 4 WHERE ${changed('RoomAllocation')}`,
  }
  const newest = (table: 'User' | 'Room') =>
    engine === 'postgres'
      ? `DELETE FROM ${q(table)} WHERE ${table === 'User' ? `substr(id, 5)::int` : 'id'} > ${referenced(counts[table])}`
      : engine === 'sqlite'
        ? `DELETE FROM ${q(table)} WHERE ${table === 'User' ? `CAST(substr(id, 5) AS INTEGER)` : 'id'} > ${referenced(counts[table])}`
        : `DELETE FROM ${q(table)} WHERE ${table === 'User' ? `CAST(SUBSTRING(id, 5) AS UNSIGNED)` : 'id'} > ${referenced(counts[table])}`
  const deletes = [
    `DELETE FROM ${q('Registration')} WHERE (${bucket('Registration', 'delete')}) < 5`,
    `DELETE FROM ${q('Message')} WHERE ${q('registrationId')} IS NULL AND (${bucket('Message', 'delete')}) < 5`,
    newest('User'),
    newest('Room'),
  ]
  const session = await openSession(engine, url)
  const rowCount = await rowCounter(engine, url)
  // The deletes rely on ON DELETE CASCADE, which SQLite applies only with foreign keys switched on.
  if (engine === 'sqlite') await session.exec('PRAGMA foreign_keys = ON')
  try {
    const before = await rowCount.all()
    const updated: Record<string, number> = {}
    for (const table of BENCH_TABLES) updated[table] = await rowCount.exec(updates[table])
    for (const sql of deletes) await session.exec(sql)
    const after = await rowCount.all()
    const deleted: Record<string, number> = {}
    for (const table of BENCH_TABLES) deleted[table] = before[table] - after[table]
    if (engine === 'postgres') await session.exec('VACUUM (FREEZE, ANALYZE)')
    if (engine === 'sqlite') await session.exec('VACUUM')
    return { updated, deleted }
  } finally {
    await rowCount.end()
    await session.end()
  }
}

/** A second connection that reports affected-row counts and table sizes. */
async function rowCounter(engine: BenchEngine, url: string) {
  if (engine === 'sqlite') {
    const db = openSqlite(url)
    return {
      exec: async (sql: string) => db.prepare(sql).run().changes,
      all: async () => {
        const out: Record<string, number> = {}
        for (const t of BENCH_TABLES) out[t] = Number((db.prepare(`SELECT count(*) AS n FROM "${t}"`).get() as { n: number }).n)
        return out
      },
      end: async () => void db.close(),
    }
  }
  if (engine === 'postgres') {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    return {
      exec: async (sql: string) => (await client.query(sql)).rowCount ?? 0,
      all: async () => {
        const out: Record<string, number> = {}
        for (const t of BENCH_TABLES) out[t] = Number((await client.query(`SELECT count(*) AS n FROM "${t}"`)).rows[0].n)
        return out
      },
      end: () => client.end(),
    }
  }
  const conn = await mysql.createConnection({ uri: url })
  return {
    exec: async (sql: string) => {
      const [result] = await conn.query(sql)
      return (result as { affectedRows?: number }).affectedRows ?? 0
    },
    all: async () => {
      const out: Record<string, number> = {}
      for (const t of BENCH_TABLES) {
        const [rows] = await conn.query(`SELECT COUNT(*) AS n FROM \`${t}\``)
        out[t] = Number((rows as { n: number }[])[0].n)
      }
      return out
    },
    end: () => conn.end(),
  }
}

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      db: { type: 'string' },
      scale: { type: 'string', default: '1' },
      seed: { type: 'string', default: DEFAULT_SEED },
      mutate: { type: 'boolean', default: false },
    },
  })
  if (!values.db) throw new Error('usage: node --import tsx bench/generate.ts --db URL [--scale N] [--seed S] [--mutate]')
  const scale = Number(values.scale)
  const started = Date.now()
  if (values.mutate) {
    console.log(JSON.stringify(await mutate(values.db, { scale, seed: values.seed })))
  } else {
    const counts = await generate(values.db, { scale, seed: values.seed, onProgress: (line) => console.error(`  ${line}`) })
    console.log(JSON.stringify(counts))
  }
  console.error(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  cli().catch((error: unknown) => {
    console.error(`bench/generate: ${(error as Error).message}`)
    process.exitCode = 1
  })
}
