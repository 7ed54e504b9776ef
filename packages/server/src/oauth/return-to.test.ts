import { describe, expect, it } from 'vitest'
import { safeReturnTo } from './return-to.ts'

describe('safeReturnTo', () => {
  it('keeps a same-origin path with its query and fragment', () => {
    expect(safeReturnTo('/')).toBe('/')
    expect(safeReturnTo('/account?tab=2#top')).toBe('/account?tab=2#top')
    expect(safeReturnTo('/a/../b')).toBe('/b')
  })

  it.each([
    'https://evil.example',
    'http://evil.example/',
    '//evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    '/\t/evil.example',
    '/\n/evil.example',
    '/ /evil.example',
    '/\u0000',
    'javascript:alert(1)',
    'evil.example',
    '',
    '/x'.repeat(300),
  ])('refuses %j', (raw) => {
    expect(safeReturnTo(raw)).toBeNull()
  })

  it('refuses what is not a string', () => {
    for (const raw of [undefined, null, 1, {}, ['/']]) expect(safeReturnTo(raw)).toBeNull()
  })
})
