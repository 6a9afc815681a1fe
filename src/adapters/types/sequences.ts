/**
 * MariaDB sequences in a backup (issue #14): the structured fields `options.sequences` carries
 * (docs/format.md), and the one column default form that names one. Shared by the MySQL
 * adapter, which writes and rebuilds them, and the schema guard, which checks them.
 */

/** A MariaDB sequence of `options.sequences`, checked: numbers as canonical decimal strings. */
export interface SequenceFields {
  readonly name: string
  readonly start: string
  readonly increment: string
  readonly minValue: string
  readonly maxValue: string
  readonly cache: string
  readonly cycle: boolean
  readonly next: string
  readonly round: string
}

/** `nextval(`db`.`seq`)` / `nextval(`seq`)` as information_schema reports a `NEXT VALUE FOR seq` default. */
export function sequenceOfDefault(text: string | null | undefined): { schema?: string; name: string } | undefined {
  if (typeof text !== 'string') return undefined
  const match = /^nextval\((?:`((?:[^`]|``)+)`\.)?`((?:[^`]|``)+)`\)$/i.exec(text.trim())
  if (!match) return undefined
  return { ...(match[1] !== undefined ? { schema: match[1].replace(/``/g, '`') } : {}), name: match[2]!.replace(/``/g, '`') }
}

