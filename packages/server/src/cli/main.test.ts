import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { run } from './main.ts'

const dir = mkdtempSync(join(tmpdir(), 'bastion-cli-'))
const env = { BASTION_DATA_DIR: dir, BASTION_SECRET: 'c'.repeat(40) }
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function cli(...args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = []
  const code = await run(args, env, (l) => lines.push(l))
  return { code, lines }
}

describe('bastion CLI', () => {
  it('lists the signing key, rotates it, and keeps the old one listed as retired', async () => {
    const first = await cli('keys', 'list')
    expect(first.code).toBe(0)
    expect(first.lines).toHaveLength(1)
    expect(first.lines[0]).toMatch(/EdDSA .* signing$/)
    const rotated = await cli('keys', 'rotate', '--activate-in', '0')
    expect(rotated.code).toBe(0)
    expect(rotated.lines[0]).toMatch(/^new signing key (\S+) .* signing now$/)
    const newKid = /^new signing key (\S+)/.exec(rotated.lines[0]!)![1]
    expect(rotated.lines.slice(1)).toHaveLength(2)
    expect(rotated.lines[1]).toMatch(new RegExp(`^${newKid} .* signing$`))
    expect(rotated.lines[2]).toMatch(/retired \d{4}-/)
  })

  it('stages a rotation by default: the new key is published and signs after 60 s, the current one signs until then', async () => {
    const before = Date.now()
    const rotated = await cli('keys', 'rotate')
    expect(rotated.code).toBe(0)
    const m = /^new signing key (\S+) .* signing from (\S+)$/.exec(rotated.lines[0]!)!
    expect(Date.parse(m[2]!) - before).toBeGreaterThanOrEqual(59_000)
    expect(rotated.lines[1]).toMatch(new RegExp(`^${m[1]} .* published .* signs from `))
    expect(rotated.lines[2]).toMatch(/ signing until \d{4}-/)
    expect((await cli('keys', 'rotate', '--activate-in', 'soon')).code).toBe(2)
  })

  it('prunes, and refuses an unknown command with its usage', async () => {
    expect((await cli('prune')).lines[0]).toMatch(/^pruned 0 ended sessions/)
    expect(await cli('keys', 'delete')).toEqual({ code: 2, lines: ['usage: bastion keys list | keys rotate [--activate-in <seconds>] | prune'] })
  })

  it('refuses a store sealed with another secret, saying so', async () => {
    const lines: string[] = []
    await expect(run(['keys', 'list'], { ...env, BASTION_SECRET: 'd'.repeat(40) }, (l) => lines.push(l))).rejects.toThrow(/sealed with a different secret/)
  })
})
