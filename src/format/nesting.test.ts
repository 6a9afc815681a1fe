import { describe, expect, it } from 'vitest'
import { nestingExceeds } from './reader.js'

describe('nestingExceeds', () => {
  // Two record lines in one chunk, as the reader sees them: only the first is asked about.
  const shallow = '{"a":1,"b":"[[[[{{{{"}'
  const deep = '{"a":[[[[{"b":{}}]]]]}'

  it('counts the brackets of the line only, not those of the lines after it in the buffer', () => {
    const chunk = Buffer.from(`${shallow}\n${deep}\n`)
    expect(nestingExceeds(chunk, 0, shallow.length, 2)).toBe(false)
    const start = shallow.length + 1
    expect(nestingExceeds(chunk, start, start + deep.length, 5)).toBe(true)
    expect(nestingExceeds(chunk, start, start + deep.length, 7)).toBe(false)
  })

  it('does not count brackets inside strings', () => {
    const chunk = Buffer.from(`${shallow}\n`)
    expect(nestingExceeds(chunk, 0, shallow.length, 1)).toBe(false)
  })
})
