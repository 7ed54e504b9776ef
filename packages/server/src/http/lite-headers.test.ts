import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LiteHeaders } from './lite-headers.ts'

/** What a Headers shows of itself: every entry in order, each name's get/has, the Set-Cookie list. */
function view(h: Headers | LiteHeaders, names: string[]) {
  return {
    entries: [...h.entries()],
    get: names.map((n) => h.get(n)),
    has: names.map((n) => h.has(n)),
    setCookie: h.getSetCookie(),
  }
}

/** Runs `op` on both; both must throw, or both answer the same. */
function both<T>(a: () => T, b: () => T): { threw: boolean } {
  let ea: unknown
  let eb: unknown
  try {
    a()
  } catch (e) {
    ea = e
  }
  try {
    b()
  } catch (e) {
    eb = e
  }
  expect(ea === undefined, `undici ${String(ea)} / lite ${String(eb)}`).toBe(eb === undefined)
  if (ea !== undefined) expect(eb).toBeInstanceOf(TypeError)
  return { threw: ea !== undefined }
}

const NAMES = ['Cookie', 'cookie', 'Set-Cookie', 'set-cookie', 'Accept', 'X-A', 'x-a', 'Content-Type', 'Vary', 'b@d', 'sp ace', '', 'Ünï']
const name = fc.oneof(fc.constantFrom(...NAMES), fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/))
const value = fc.oneof(
  fc.stringMatching(/^[\x20-\x7e]{0,20}$/),
  fc.constantFrom('  padded\t', 'a\r\nb', 'nul\0', 'latin1 \u00e9\u00ff', '', '\t', 'x=1; y=2'),
)
const op = fc.oneof(
  fc.record({ kind: fc.constant('append' as const), name, value }),
  fc.record({ kind: fc.constant('set' as const), name, value }),
  fc.record({ kind: fc.constant('delete' as const), name, value: fc.constant('') }),
)

describe('LiteHeaders answers as undici Headers do', () => {
  it('on random sequences of append, set and delete (entries, get, has, getSetCookie, and which calls throw)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
        const real = new Headers()
        const lite = new LiteHeaders()
        for (const o of ops) {
          if (o.kind === 'delete') both(() => real.delete(o.name), () => lite.delete(o.name))
          else both(() => real[o.kind](o.name, o.value), () => lite[o.kind](o.name, o.value))
        }
        const names = [...new Set([...NAMES.filter((n) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(n)), ...ops.map((o) => o.name).filter((n) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(n))])]
        expect(view(lite, names)).toEqual(view(real, names))
      }),
      { numRuns: 400 },
    )
  })

  it('from raw pairs: repeated names joined (cookie with "; "), Set-Cookie kept apart, a refused pair dropped', () => {
    const lite = LiteHeaders.fromRaw(['Cookie', 'a=1', 'X-A', 'one', 'cookie', 'b=2', 'x-a', 'two', 'Set-Cookie', 'p=1', 'Set-Cookie', 'q=2', 'Bad', 'x\ny'])
    expect(lite.get('cookie')).toBe('a=1; b=2')
    expect(lite.get('X-A')).toBe('one, two')
    expect(lite.getSetCookie()).toEqual(['p=1', 'q=2'])
    expect(lite.has('bad')).toBe(false)
  })

  it('is accepted wherever a Headers is: instanceof, new Headers, Request and Response init', () => {
    const lite = new LiteHeaders({ 'X-One': '1', 'Set-Cookie': 'a=b' })
    lite.append('Set-Cookie', 'c=d')
    expect(lite).toBeInstanceOf(Headers)
    expect([...new Headers(lite as unknown as Headers)]).toEqual([...lite])
    expect(new Request('http://localhost/', { headers: lite as unknown as Headers }).headers.get('x-one')).toBe('1')
    expect(new Response('x', { headers: lite as unknown as Headers }).headers.getSetCookie()).toEqual(['a=b', 'c=d'])
  })

  it("writes Node's outgoing form: one value per name, Set-Cookie as a list", () => {
    const lite = new LiteHeaders([
      ['Content-Type', 'application/json'],
      ['Vary', 'Origin'],
      ['vary', 'Cookie'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
    ])
    expect(lite.toOutgoing()).toEqual({ 'content-type': 'application/json', vary: 'Origin, Cookie', 'set-cookie': ['a=1', 'b=2'] })
  })
})
