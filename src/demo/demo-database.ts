/**
 * The demo database: a small, realistic SQLite database of an event-registration app, for
 * `mergeback demo` / `npm start` and for tests that want real-looking data.
 *
 * Tables (Prisma-style names and DDL, as the apps mergeback is written for have them):
 *   User            text ids "u01"…, unique email, names from many languages, phone, role
 *   Registration    → User; status (CHECK), metadata JSON text, amount DECIMAL(10,2), booleans
 *   Message         → Registration, → User; ~1 KB bodies with unicode, emoji, quotes, newlines
 *   Room            INTEGER PRIMARY KEY AUTOINCREMENT; a small PNG photo BLOB per room
 *   RoomAllocation  composite primary key (roomId, registrationId), → Room, → Registration
 * Every table has `updatedAt` (ISO-8601 text, UTC, milliseconds), so the smart merge's
 * keep-newer rule has something to decide on.
 *
 * Deterministic: all data comes from a seeded PRNG (mulberry32) and fixed dates, and the photos
 * are PNGs written with stored (uncompressed) deflate blocks, so one seed always gives the same
 * rows — and the same bytes on disk for the same SQLite version.
 *
 * Creation is atomic and never overwrites: the database is built in a temporary file beside
 * the target, then hard-linked into place (which fails if the name was taken meanwhile).
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { NotFoundError, UsageError } from '../errors.js'
import { openReadOnly, quoteIdent, withErrors } from '../adapters/sqlite/sqlite-connection.js'
import { listTables } from '../adapters/sqlite/sqlite-introspector.js'

export interface DemoDatabaseOptions {
  /** PRNG seed: the same seed gives the same data (default 2026). */
  readonly seed?: number
}

export interface DemoDatabaseResult {
  /** False when the file already existed (it was then left exactly as it was). */
  readonly created: boolean
  /** Rows per table, of the database now at `file`. */
  readonly tables: Record<string, number>
}

const DEFAULT_SEED = 2026

/**
 * Creates the demo database at `file` unless something is there already; returns whether it did
 * and the row count of each table. An existing file is only read (a file that is not a SQLite
 * database is a UsageError). Throws NotFoundError when the directory does not exist.
 */
export function createDemoDatabase(file: string, options: DemoDatabaseOptions = {}): DemoDatabaseResult {
  if (fs.existsSync(file)) return { created: false, tables: countRows(file) }
  const dir = path.dirname(path.resolve(file))
  if (!fs.existsSync(dir)) throw new NotFoundError(`Cannot create the demo database ${file}: directory ${dir} does not exist.`)
  const seed = options.seed ?? DEFAULT_SEED
  if (!Number.isInteger(seed)) throw new UsageError(`The demo seed must be an integer, not ${seed}.`)

  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`)
  try {
    const db = new Database(temp)
    try {
      db.exec(SCHEMA)
      db.transaction(() => insertData(db, seed))()
    } finally {
      db.close()
    }
    try {
      fs.linkSync(temp, file)
    } catch (error) {
      // Someone made the file while we were building ours: theirs stands.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { created: false, tables: countRows(file) }
      throw error
    }
  } finally {
    fs.rmSync(temp, { force: true })
    fs.rmSync(`${temp}-journal`, { force: true })
  }
  return { created: true, tables: countRows(file) }
}

function countRows(file: string): Record<string, number> {
  const db = openReadOnly(file, 5000)
  try {
    return withErrors({ file, action: 'counting rows of' }, () => {
      const tables: Record<string, number> = {}
      for (const { name } of listTables(db).tables) {
        tables[name] = Number((db.prepare(`SELECT count(*) AS n FROM ${quoteIdent(name)}`).get() as { n: bigint }).n)
      }
      return tables
    })
  } finally {
    db.close()
  }
}

const SCHEMA = `
CREATE TABLE "User" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "email" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "phone" TEXT,
    "role" TEXT NOT NULL DEFAULT 'ATTENDEE',
    "phoneVerified" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");

CREATE TABLE "Registration" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "userId" TEXT NOT NULL,
    "event" TEXT NOT NULL,
    "status" TEXT NOT NULL DEFAULT 'PENDING' CHECK ("status" IN ('PENDING', 'CONFIRMED', 'WAITLISTED', 'CANCELLED')),
    "ticketType" TEXT NOT NULL,
    "amount" DECIMAL(10,2) NOT NULL,
    "paid" BOOLEAN NOT NULL DEFAULT false,
    "checkedIn" BOOLEAN NOT NULL DEFAULT false,
    "metadata" JSON,
    "registeredAt" DATETIME NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Registration_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "Registration_userId_idx" ON "Registration"("userId");

CREATE TABLE "Message" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "registrationId" TEXT NOT NULL,
    "senderId" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "body" TEXT NOT NULL,
    "sentAt" DATETIME NOT NULL,
    "readAt" DATETIME,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Message_registrationId_fkey" FOREIGN KEY ("registrationId") REFERENCES "Registration" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "Message_senderId_fkey" FOREIGN KEY ("senderId") REFERENCES "User" ("id") ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE INDEX "Message_registrationId_idx" ON "Message"("registrationId");

CREATE TABLE "Room" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "name" TEXT NOT NULL,
    "building" TEXT NOT NULL,
    "floor" INTEGER NOT NULL,
    "capacity" INTEGER NOT NULL CHECK ("capacity" > 0),
    "pricePerNight" DECIMAL(10,2) NOT NULL,
    "accessible" BOOLEAN NOT NULL DEFAULT false,
    "photo" BLOB,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);
CREATE UNIQUE INDEX "Room_building_name_key" ON "Room"("building", "name");

CREATE TABLE "RoomAllocation" (
    "roomId" INTEGER NOT NULL,
    "registrationId" TEXT NOT NULL,
    "bed" INTEGER NOT NULL,
    "nights" INTEGER NOT NULL,
    "notes" TEXT,
    "allocatedAt" DATETIME NOT NULL,
    "updatedAt" DATETIME NOT NULL,
    PRIMARY KEY ("roomId", "registrationId"),
    CONSTRAINT "RoomAllocation_roomId_fkey" FOREIGN KEY ("roomId") REFERENCES "Room" ("id") ON DELETE RESTRICT ON UPDATE CASCADE,
    CONSTRAINT "RoomAllocation_registrationId_fkey" FOREIGN KEY ("registrationId") REFERENCES "Registration" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
`

// ---------------------------------------------------------------------------------------------
// Data

/** mulberry32: a small, well-mixed 32-bit PRNG; enough for demo data, and the same everywhere. */
function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Random {
  readonly next: () => number
  int(min: number, max: number): number
  pick<T>(items: readonly T[]): T
  chance(p: number): boolean
}

function random(seed: number): Random {
  const next = prng(seed)
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)],
    chance: (p) => next() < p,
  }
}

const PEOPLE: readonly [name: string, email: string][] = [
  ['Ana Müller', 'ana.mueller'],
  ['José García Núñez', 'jose.garcia'],
  ['Zoë Van der Berg', 'zoe.vdberg'],
  ['Łukasz Wiśniewski', 'lukasz.w'],
  ['Siobhán O\'Connor', 'siobhan.oconnor'],
  ['Søren Kjærgaard', 'soren.k'],
  ['Björk Guðmundsdóttir', 'bjork.g'],
  ['Amélie Dubois', 'amelie.dubois'],
  ['王芳', 'wang.fang'],
  ['李小龍', 'li.xiaolong'],
  ['佐藤 花子', 'hanako.sato'],
  ['김민준', 'minjun.kim'],
  ['Nguyễn Văn An', 'an.nguyen'],
  ['Ольга Иванова', 'olga.ivanova'],
  ['Αλέξανδρος Παπαδόπουλος', 'alexandros.p'],
  ['محمد الأحمد', 'mohammed.alahmad'],
  ['יעל כהן', 'yael.cohen'],
  ['Priya Raghunathan', 'priya.r'],
  ['Ayşe Yılmaz', 'ayse.yilmaz'],
  ['Ngozi Okafor', 'ngozi.okafor'],
  ['Kwame Mensah', 'kwame.mensah'],
  ['João Gonçalves', 'joao.goncalves'],
  ['François-Xavier Lefèvre', 'fx.lefevre'],
  ['Dvořák Jiří', 'jiri.dvorak'],
  ['Ingrid Øvergård', 'ingrid.o'],
  ['Mateo Ñañez', 'mateo.nanez'],
  ['Aarav Sharma', 'aarav.sharma'],
  ['Chloé "Coco" Martin', 'chloe.martin'],
  ['Mei-Ling Chen', 'meiling.chen'],
  ['Tomás Ó Súilleabháin', 'tomas.osullivan'],
  ['Emma Johansson', 'emma.johansson'],
  ['Oliver Smith', 'oliver.smith'],
  ['Fatima Zahra Benali', 'fatima.benali'],
  ['Hiroshi Tanaka', 'hiroshi.tanaka'],
  ['Leilani Kahananui', 'leilani.k'],
  ['Dmitri Sokolov', 'dmitri.sokolov'],
  ['Ana-Maria Popescu', 'anamaria.popescu'],
  ['Kateřina Nováková', 'katerina.novakova'],
  ['Rafael Sánchez 🎸', 'rafael.sanchez'],
  ['Sofía Hernández', 'sofia.hernandez'],
]

const EVENTS = ['Spring Summit 2026', 'Developer Day Lisbon', 'Nordic Design Week', 'Community Meetup #12'] as const
const TICKETS: readonly [type: string, amount: number][] = [
  ['EARLY_BIRD', 89],
  ['STANDARD', 129.5],
  ['VIP', 249.99],
  ['STUDENT', 45],
  ['SPEAKER', 0],
]
const STATUSES = ['CONFIRMED', 'CONFIRMED', 'CONFIRMED', 'PENDING', 'WAITLISTED', 'CANCELLED'] as const
const DIETS = ['none', 'vegetarian', 'vegan', 'gluten-free', 'halal', 'kosher', 'no nuts 🥜'] as const
const SIZES = ['XS', 'S', 'M', 'L', 'XL', 'XXL'] as const
const SOURCES = ['newsletter', 'twitter', 'a friend', 'last year', 'search'] as const
const WORKSHOPS = ['Intro to SQL', 'Backups 101', 'Design systems', 'Rust für Einsteiger'] as const
const BUILDINGS: readonly [building: string, rooms: readonly string[]][] = [
  ['Aurora Hall', ['Borealis', 'Polaris', 'Vega', 'Sirius']],
  ['Maison du Lac', ['Chambre Émeraude', 'Chambre Saphir', 'Chambre Rubis', 'Suite Étoile']],
  ['桜 House', ['Room 桜-1', 'Room 桜-2', 'Room 桜-3', 'Loft 🌸']],
]
const SUBJECTS = [
  'Your ticket is confirmed ✅',
  'Question about the "late check-in" policy',
  'Dietary requirements — update',
  'Travel & accommodation details',
  'Re: Invoice request',
  'Workshop seats — first come, first served!',
  'Änderung der Buchung',
  '¿Hay aparcamiento cerca?',
] as const
const PARAGRAPHS = [
  'Hello! Thanks a lot for organising this — last year was fantastic and I am really looking forward to it. 🎉',
  'Could you tell me whether the venue is wheelchair accessible? My colleague uses a wheelchair and we want to plan ahead.',
  'I booked the "Early Bird" ticket but my company needs an invoice with our VAT number: DE 123 456 789. Is that possible?',
  'Ich komme mit dem Zug aus München und bin erst gegen 22:30 Uhr da. Ist der Check-in dann noch offen?',
  'Je voudrais changer ma chambre pour une chambre avec deux lits, si c\'est encore possible. Merci beaucoup !',
  '会場までの行き方を教えていただけますか？空港からバスで行けますか？',
  'Quick note: I am vegetarian, and my partner is allergic to nuts 🥜 — please pass this on to the caterer.',
  'Line one of the address\nLine two of the address\n12345 Springfield',
  'P.S. The link in your last e-mail (https://example.com/tickets?id=42&lang=en) returned a 404 for me.',
  'Παρακαλώ επιβεβαιώστε την κράτησή μου. Ευχαριστώ!',
  'Можно ли оплатить на месте картой? Спасибо заранее.',
  'Looking forward to the keynote 🚀🔥 — will the slides be shared afterwards?',
  'Tabs\tand "double quotes" and \'single quotes\' and a backslash \\ survive a round trip, I hope.',
]

const BASE = Date.UTC(2026, 0, 5, 9, 0, 0)
const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE

function iso(ms: number): string {
  return new Date(ms).toISOString()
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0')
}

function insertData(db: Database.Database, seed: number): void {
  const r = random(seed)
  const userRows: { id: string; createdAt: number }[] = []
  const insertUser = db.prepare(
    `INSERT INTO "User" ("id", "email", "name", "phone", "role", "phoneVerified", "createdAt", "updatedAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  PEOPLE.forEach(([name, handle], i) => {
    const id = `u${pad(i + 1, 2)}`
    const createdAt = BASE + i * 17 * 60 * MINUTE + r.int(0, 59) * MINUTE
    const phone = r.chance(0.7) ? `+${r.int(1, 99)} ${r.int(100, 999)} ${r.int(1000000, 9999999)}` : null
    const role = i === 0 ? 'ADMIN' : i < 3 ? 'ORGANIZER' : 'ATTENDEE'
    const updatedAt = createdAt + (r.chance(0.5) ? r.int(1, 30) * DAY + r.int(0, 1439) * MINUTE : 0)
    insertUser.run(id, `${handle}@example.com`, name, phone, role, phone !== null && r.chance(0.8) ? 1 : 0, iso(createdAt), iso(updatedAt))
    userRows.push({ id, createdAt })
  })

  const registrations: { id: string; userId: string; at: number; status: string }[] = []
  const insertRegistration = db.prepare(
    `INSERT INTO "Registration" ("id", "userId", "event", "status", "ticketType", "amount", "paid", "checkedIn", "metadata", "registeredAt", "createdAt", "updatedAt")
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  for (let i = 0; i < 90; i++) {
    const user = userRows[i < userRows.length ? i : r.int(0, userRows.length - 1)]
    const id = `r${pad(i + 1, 2)}`
    const at = user.createdAt + r.int(1, 20 * 24 * 60) * MINUTE
    const status = r.pick(STATUSES)
    const [ticketType, amount] = r.pick(TICKETS)
    const paid = status === 'CONFIRMED' && amount > 0 ? 1 : 0
    const metadata = r.chance(0.85)
      ? JSON.stringify({
          dietary: r.pick(DIETS),
          tshirt: r.pick(SIZES),
          heardFrom: r.pick(SOURCES),
          workshops: WORKSHOPS.filter(() => r.chance(0.35)),
          ...(r.chance(0.3) ? { emergencyContact: { name: r.pick(PEOPLE)[0], phone: `+${r.int(1, 99)} ${r.int(1000000, 9999999)}` } } : {}),
          ...(r.chance(0.2) ? { note: 'Arrives late — "after 22:00"' } : {}),
        })
      : null
    const updated = at + (r.chance(0.6) ? r.int(1, 40 * 24 * 60) * MINUTE : 0)
    insertRegistration.run(id, user.id, r.pick(EVENTS), status, ticketType, amount, paid, status === 'CONFIRMED' && r.chance(0.4) ? 1 : 0, metadata, iso(at), iso(at), iso(updated))
    registrations.push({ id, userId: user.id, at, status })
  }

  const insertMessage = db.prepare(
    `INSERT INTO "Message" ("id", "registrationId", "senderId", "subject", "body", "sentAt", "readAt", "updatedAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  for (let i = 0; i < 120; i++) {
    const registration = r.pick(registrations)
    const fromOrganizer = r.chance(0.35)
    const sender = fromOrganizer ? userRows[r.int(0, 2)].id : registration.userId
    const paragraphs: string[] = []
    while (paragraphs.join('\n\n').length < 900) paragraphs.push(r.pick(PARAGRAPHS))
    const body = `${fromOrganizer ? 'Dear attendee,' : 'Hi team,'}\n\n${paragraphs.join('\n\n')}\n\n— ${fromOrganizer ? 'The organizers' : 'Sent from my phone 📱'}`
    const sentAt = registration.at + r.int(10, 30 * 24 * 60) * MINUTE
    const readAt = r.chance(0.6) ? sentAt + r.int(1, 3 * 24 * 60) * MINUTE : null
    insertMessage.run(`m${pad(i + 1, 3)}`, registration.id, sender, r.pick(SUBJECTS), body, iso(sentAt), readAt === null ? null : iso(readAt), iso(readAt ?? sentAt))
  }

  const insertRoom = db.prepare(
    `INSERT INTO "Room" ("name", "building", "floor", "capacity", "pricePerNight", "accessible", "photo", "createdAt", "updatedAt") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  const rooms: { id: number; capacity: number }[] = []
  for (const [building, names] of BUILDINGS) {
    names.forEach((name, floor) => {
      const capacity = r.int(1, 6)
      const createdAt = BASE - r.int(30, 90) * DAY
      const result = insertRoom.run(
        name,
        building,
        floor,
        capacity,
        [59, 74.5, 89.9, 120, 135.25, 150][capacity - 1],
        r.chance(0.3) ? 1 : 0,
        r.chance(0.9) ? roomPhoto(r) : null,
        iso(createdAt),
        iso(createdAt + r.int(0, 20) * DAY),
      )
      rooms.push({ id: Number(result.lastInsertRowid), capacity })
    })
  }

  const insertAllocation = db.prepare(
    `INSERT INTO "RoomAllocation" ("roomId", "registrationId", "bed", "nights", "notes", "allocatedAt", "updatedAt") VALUES (?, ?, ?, ?, ?, ?, ?)`,
  )
  const beds = new Map(rooms.map((room) => [room.id, 0]))
  for (const registration of registrations) {
    if (registration.status !== 'CONFIRMED') continue
    const free = rooms.filter((room) => (beds.get(room.id) ?? 0) < room.capacity)
    if (free.length === 0) break
    const room = r.pick(free)
    const bed = (beds.get(room.id) ?? 0) + 1
    beds.set(room.id, bed)
    const allocatedAt = registration.at + r.int(60, 5 * 24 * 60) * MINUTE
    const notes = r.chance(0.25) ? r.pick(['Ground floor please', 'Quiet room 🤫', 'Shares with a colleague', 'Late arrival — key at the desk']) : null
    insertAllocation.run(room.id, registration.id, bed, r.int(1, 4), notes, iso(allocatedAt), iso(allocatedAt + (r.chance(0.3) ? r.int(1, 10) * DAY : 0)))
  }
}

// ---------------------------------------------------------------------------------------------
// Photos: tiny PNGs (16×12, RGB) with a seeded gradient, a few hundred bytes each.

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(bytes: Buffer): number {
  let c = 0xffffffff
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/** zlib data of `raw` in stored (uncompressed) deflate blocks: byte-for-byte the same everywhere. */
function storedZlib(raw: Buffer): Buffer {
  const parts: Buffer[] = [Buffer.from([0x78, 0x01])]
  for (let offset = 0; ; offset += 65535) {
    const block = raw.subarray(offset, offset + 65535)
    const last = offset + 65535 >= raw.length
    const header = Buffer.alloc(5)
    header[0] = last ? 1 : 0 // BFINAL, BTYPE 00 (stored)
    header.writeUInt16LE(block.length, 1)
    header.writeUInt16LE(~block.length & 0xffff, 3)
    parts.push(header, block)
    if (last) break
  }
  let a = 1
  let b = 0
  for (const byte of raw) {
    a = (a + byte) % 65521
    b = (b + a) % 65521
  }
  const adler = Buffer.alloc(4)
  adler.writeUInt32BE(((b << 16) | a) >>> 0)
  parts.push(adler)
  return Buffer.concat(parts)
}

function roomPhoto(r: Random): Buffer {
  const width = 16
  const height = 12
  const [r0, g0, b0] = [r.int(0, 255), r.int(0, 255), r.int(0, 255)]
  const raw = Buffer.alloc(height * (1 + width * 3))
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3)
    raw[row] = 0 // filter: none
    for (let x = 0; x < width; x++) {
      const p = row + 1 + x * 3
      raw[p] = (r0 + x * 8) & 0xff
      raw[p + 1] = (g0 + y * 12) & 0xff
      raw[p + 2] = (b0 + (x + y) * 4) & 0xff
    }
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header[8] = 8 // bit depth
  header[9] = 2 // colour type: RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', storedZlib(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}
