/** The bytes of JSON's structure, as the byte-level readers of the backup file (reader.ts, record-scan.ts) test them. */
export const LF = 0x0a
export const CR = 0x0d
export const COMMA = 0x2c
export const OPEN_BRACE = 0x7b
export const CLOSE_BRACE = 0x7d
export const OPEN_BRACKET = 0x5b
export const CLOSE_BRACKET = 0x5d
export const QUOTE = 0x22
export const BACKSLASH = 0x5c
export const COLON = 0x3a

/** The index of the first byte from `i` (before `end`) that is not JSON whitespace. */
export function skipSpace(buffer: Buffer, i: number, end: number): number {
  while (i < end) {
    const c = buffer[i]!
    if (c !== 0x20 && c !== 0x09 && c !== LF && c !== CR) break
    i++
  }
  return i
}
