/**
 * SQLite virtual tables that hold their own rows (issue #14): FTS5 and R*Tree. A backup carries
 * the definition as structured fields (`options.virtual`, docs/format.md), never as SQL text:
 *
 * - `{ module: 'fts5', columns: [{ name, unindexed }], options: { tokenize?, prefix?, content?: '',
 *   contentless_delete?, detail?, columnsize? } }`
 * - `{ module: 'rtree' | 'rtree_i32', columns: [id, min1, max1, …], auxColumns: [name, …] }`
 *
 * `parseVirtualTable` reads SQLite's CREATE VIRTUAL TABLE text into those fields (backup);
 * `checkVirtualTable` validates fields from a file (the schema guard: module from an allowlist,
 * names without quotes or control characters, every option in its few possible forms) and
 * `createVirtualTableSql` builds the statement from checked fields (restore).
 */

export type VirtualModule = 'fts5' | 'rtree' | 'rtree_i32'

export interface Fts5Definition {
  readonly module: 'fts5'
  readonly columns: readonly { readonly name: string; readonly unindexed: boolean }[]
  readonly options: Readonly<Record<string, string>>
}

export interface RtreeDefinition {
  readonly module: 'rtree' | 'rtree_i32'
  /** The id, then a minimum and a maximum per dimension. */
  readonly columns: readonly string[]
  readonly auxColumns: readonly string[]
}

export type VirtualTableDefinition = Fts5Definition | RtreeDefinition

const TOKENIZERS = new Set(['unicode61', 'ascii', 'porter', 'trigram'])
const FTS5_OPTIONS: Readonly<Record<string, RegExp>> = {
  tokenize: /^[A-Za-z0-9_]{1,32}( [A-Za-z0-9_]{1,32}){0,15}$/,
  prefix: /^[1-9][0-9]{0,2}( [1-9][0-9]{0,2}){0,15}$/,
  content: /^$/,
  contentless_delete: /^[01]$/,
  detail: /^(full|column|none)$/,
  columnsize: /^[01]$/,
}
/** A column name that needs nothing but double quotes around it. */
const NAME = /^[^"'`;\u0000-\u001f\u007f]{1,128}$/u

export class VirtualTableError extends Error {}

/** The arguments between the parentheses, split at top-level commas (quotes and brackets respected). */
function splitArguments(text: string): string[] {
  const out: string[] = []
  let current = ''
  let depth = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c
      let j = i + 1
      for (; j < text.length; j++) {
        if (text[j] === close) {
          if (close !== ']' && text[j + 1] === close) j++
          else break
        }
      }
      current += text.slice(i, j + 1)
      i = j
    } else if (c === '(') {
      depth++
      current += c
    } else if (c === ')') {
      depth--
      current += c
    } else if (c === ',' && depth === 0) {
      out.push(current.trim())
      current = ''
    } else current += c
  }
  if (current.trim() !== '') out.push(current.trim())
  return out
}

/** A bareword or a quoted word, unquoted. */
function unquote(text: string): string {
  const t = text.trim()
  const q = t[0]
  if ((q === "'" || q === '"' || q === '`') && t.endsWith(q) && t.length >= 2) return t.slice(1, -1).split(q + q).join(q)
  if (q === '[' && t.endsWith(']')) return t.slice(1, -1)
  return t
}

/** One leading name (quoted or bare) and what follows it. */
function leadingName(text: string): [string, string] {
  const match = /^("(?:[^"]|"")*"|'(?:[^']|'')*'|`(?:[^`]|``)*`|\[[^\]]*\]|[^\s=]+)\s*([\s\S]*)$/.exec(text.trim())
  if (!match) throw new VirtualTableError(`cannot read ${JSON.stringify(text.slice(0, 100))}`)
  return [unquote(match[1]!), match[2]!]
}

/**
 * The structured definition of a CREATE VIRTUAL TABLE text, or a VirtualTableError saying why it
 * cannot be carried (another module, an option outside the checked forms).
 */
export function parseVirtualTable(sql: string): VirtualTableDefinition {
  const match = /^\s*CREATE\s+VIRTUAL\s+TABLE\s+[\s\S]*?\bUSING\s+([A-Za-z0-9_]+)\s*\(([\s\S]*)\)\s*;?\s*$/i.exec(sql)
  if (!match) throw new VirtualTableError('not a CREATE VIRTUAL TABLE statement with arguments')
  const module = match[1]!.toLowerCase()
  const args = splitArguments(match[2]!)
  if (module === 'fts5') {
    const columns: { name: string; unindexed: boolean }[] = []
    const options: Record<string, string> = {}
    for (const arg of args) {
      const [name, rest] = leadingName(arg)
      if (rest.startsWith('=')) options[name.toLowerCase()] = unquote(rest.slice(1))
      else if (rest === '' || /^UNINDEXED$/i.test(rest)) columns.push({ name, unindexed: rest !== '' })
      else throw new VirtualTableError(`cannot read the FTS5 argument ${JSON.stringify(arg.slice(0, 100))}`)
    }
    return checkVirtualTable({ module, columns, options })
  }
  if (module === 'rtree' || module === 'rtree_i32') {
    const columns: string[] = []
    const auxColumns: string[] = []
    for (const arg of args) {
      if (arg.startsWith('+')) auxColumns.push(leadingName(arg.slice(1))[0])
      else columns.push(leadingName(arg)[0])
    }
    return checkVirtualTable({ module, columns, auxColumns })
  }
  throw new VirtualTableError(`the module ${module} is not one mergeback carries (fts5, rtree, rtree_i32)`)
}

function checkName(value: unknown, what: string): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new VirtualTableError(`${what} ${JSON.stringify(String(value).slice(0, 100))} is not a plain name (1–128 characters, no quote, backquote, semicolon or control character)`)
  }
  return value
}

/** Checks fields read from a file; throws VirtualTableError for anything outside their forms. */
export function checkVirtualTable(value: unknown): VirtualTableDefinition {
  const v = (value ?? {}) as Record<string, unknown>
  if (v.module === 'fts5') {
    if (!Array.isArray(v.columns) || v.columns.length === 0 || v.columns.length > 2000) throw new VirtualTableError('an FTS5 table needs a list of columns')
    const columns = (v.columns as unknown[]).map((c) => {
      const column = (c ?? {}) as Record<string, unknown>
      return { name: checkName(column.name, 'an FTS5 column name'), unindexed: column.unindexed === true }
    })
    const options: Record<string, string> = {}
    const given = (v.options ?? {}) as Record<string, unknown>
    if (typeof given !== 'object' || Array.isArray(given)) throw new VirtualTableError('FTS5 options are not an object')
    for (const [key, option] of Object.entries(given)) {
      const form = FTS5_OPTIONS[key]
      if (!form) throw new VirtualTableError(`the FTS5 option ${JSON.stringify(key.slice(0, 50))} is not one mergeback carries (${Object.keys(FTS5_OPTIONS).join(', ')})`)
      if (typeof option !== 'string' || !form.test(option) || (key === 'tokenize' && !TOKENIZERS.has(option.split(' ')[0]!))) {
        throw new VirtualTableError(`the FTS5 option ${key} = ${JSON.stringify(String(option).slice(0, 100))} is not in a form mergeback accepts`)
      }
      options[key] = option
    }
    return { module: 'fts5', columns, options }
  }
  if (v.module === 'rtree' || v.module === 'rtree_i32') {
    if (!Array.isArray(v.columns) || v.columns.length < 3 || v.columns.length > 11 || v.columns.length % 2 === 0) {
      throw new VirtualTableError('an R*Tree needs an id and 1 to 5 pairs of coordinates')
    }
    const aux = v.auxColumns === undefined ? [] : v.auxColumns
    if (!Array.isArray(aux) || aux.length > 100) throw new VirtualTableError('R*Tree auxiliary columns are not a list')
    return {
      module: v.module,
      columns: (v.columns as unknown[]).map((c) => checkName(c, 'an R*Tree column name')),
      auxColumns: (aux as unknown[]).map((c) => checkName(c, 'an R*Tree auxiliary column name')),
    }
  }
  throw new VirtualTableError(`the module ${JSON.stringify(String(v.module).slice(0, 50))} is not one mergeback creates (fts5, rtree, rtree_i32)`)
}

/** The column names of a definition, in the virtual table's order. */
export function virtualColumns(definition: VirtualTableDefinition): string[] {
  return definition.module === 'fts5' ? definition.columns.map((c) => c.name) : [...definition.columns, ...definition.auxColumns]
}

const quote = (name: string): string => `"${name}"`

/** CREATE VIRTUAL TABLE from checked fields: names double-quoted, options in their checked forms, as string literals. */
export function createVirtualTableSql(table: string, definition: VirtualTableDefinition, quoteTable: (name: string) => string): string {
  const parts =
    definition.module === 'fts5'
      ? [
          ...definition.columns.map((c) => quote(c.name) + (c.unindexed ? ' UNINDEXED' : '')),
          ...Object.entries(definition.options).map(([key, value]) => `${key} = '${value}'`),
        ]
      : [...definition.columns.map(quote), ...definition.auxColumns.map((c) => `+${quote(c)}`)]
  return `CREATE VIRTUAL TABLE main.${quoteTable(table)} USING ${definition.module}(${parts.join(', ')})`
}
