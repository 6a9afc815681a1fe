/**
 * A small event-registration schema for PostgreSQL, used by CLI and engine tests: an enum, JSON,
 * decimals, binary, timestamps, a serial id, a composite key, foreign keys and a table without a key
 * whose name needs quoting.
 */
export const PG_EVENT_SCHEMA = `
CREATE TYPE reg_status AS ENUM ('pending', 'confirmed', 'cancelled');
CREATE TABLE "User" (
  id text PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name text,
  "createdAt" timestamptz NOT NULL DEFAULT now(),
  "updatedAt" timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE "Room" (id serial PRIMARY KEY, name text NOT NULL, photo bytea, capacity int NOT NULL CHECK (capacity > 0));
CREATE TABLE "Registration" (
  id text PRIMARY KEY,
  "userId" text NOT NULL REFERENCES "User"(id),
  status reg_status NOT NULL DEFAULT 'pending',
  metadata jsonb,
  amount numeric(10,2),
  paid boolean NOT NULL DEFAULT false,
  "updatedAt" timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX registration_user_idx ON "Registration"("userId");
CREATE TABLE "RoomAllocation" (
  "roomId" int NOT NULL REFERENCES "Room"(id),
  "registrationId" text NOT NULL REFERENCES "Registration"(id),
  night date NOT NULL,
  PRIMARY KEY ("roomId", "registrationId")
);
CREATE TABLE "Audit Log" (at timestamptz, actor text, note text);
`

export const PG_EVENT_DATA = `
INSERT INTO "User" VALUES
  ('u1', 'ana@example.com', 'Ana Müller', '2026-01-01T10:00:00.123456Z', '2026-01-02T10:00:00Z'),
  ('u2', 'bo@example.com', '博 王', '2026-01-01T11:00:00Z', '2026-01-03T11:00:00Z'),
  ('u3', 'cy@example.com', NULL, '2026-01-01T12:00:00Z', '2026-01-04T12:00:00Z');
INSERT INTO "Room" (name, photo, capacity) VALUES ('Aurora 🌅', '\\x89504e470d0a1a0a', 2), ('Birch', '', 3), ('Cedar', NULL, 1);
INSERT INTO "Registration" VALUES
  ('r1', 'u1', 'confirmed', '{"diet": "vegan", "big": 12345678901234567890123}', 120.50, true, '2026-02-01T00:00:00Z'),
  ('r2', 'u2', 'pending', '{"notes": "line1\\nline2 \\"quoted\\""}', 80.00, false, '2026-02-02T00:00:00Z'),
  ('r3', 'u3', 'cancelled', NULL, NULL, false, '2026-02-03T00:00:00Z');
INSERT INTO "RoomAllocation" VALUES (1, 'r1', '2026-03-01'), (2, 'r2', '2026-03-01');
INSERT INTO "Audit Log" VALUES ('2026-01-01T00:00:00Z', 'system', 'created'), ('2026-01-01T00:00:00Z', 'system', 'created'), (NULL, NULL, NULL);
`

/** Every row of every table, in a stable order, as text: to assert "nothing changed" / "same data". */
export const PG_EVENT_SNAPSHOT_SQL = `
SELECT 'User' AS t, (SELECT coalesce(json_agg(u ORDER BY id), '[]')::text FROM "User" u) AS rows
UNION ALL SELECT 'Room', (SELECT coalesce(json_agg(r ORDER BY id), '[]')::text FROM "Room" r)
UNION ALL SELECT 'Registration', (SELECT coalesce(json_agg(r ORDER BY id), '[]')::text FROM "Registration" r)
UNION ALL SELECT 'RoomAllocation', (SELECT coalesce(json_agg(a ORDER BY "roomId", "registrationId"), '[]')::text FROM "RoomAllocation" a)
UNION ALL SELECT 'Audit Log', (SELECT coalesce(json_agg(l ORDER BY at, actor, note), '[]')::text FROM "Audit Log" l)
`
