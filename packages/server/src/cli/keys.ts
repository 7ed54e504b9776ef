import { parseArgs } from 'node:util'
import type { KeyRecord } from '../store.ts'
import { EXIT_OK, EXIT_USAGE, type Command } from './io.ts'
import { withBastion } from './store.ts'

export const KEYS_USAGE = `usage: bastion keys list
       bastion keys rotate [--activate-in <seconds>]

  list     the signing keys, newest first, and which one signs
  rotate   a new signing key, published in the JWKS at once and signing after
           --activate-in seconds (default 60: twice the instances' key reload
           interval, so every instance knows it first; 0 for at once). The old
           key verifies until its last token expires; nobody is signed out.`

const DEFAULT_ACTIVATE_IN = 60

function describe(k: KeyRecord, now: number): string {
  const state =
    k.createdAt > now
      ? `signs from ${new Date(k.createdAt).toISOString()}`
      : k.retiredAt === null
        ? 'signing'
        : k.retiredAt > now
          ? `signing until ${new Date(k.retiredAt).toISOString()}`
          : `retired ${new Date(k.retiredAt).toISOString()}`
  return `${k.kid}  ${k.alg}  ${k.createdAt > now ? 'published' : 'created'} ${new Date(Math.min(k.createdAt, now)).toISOString()}  ${state}`
}

export const keys: Command = async (args, io) => {
  let parsed
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { 'activate-in': { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
  } catch (e) {
    io.err(`bastion keys: ${(e as Error).message}\n${KEYS_USAGE}`)
    return EXIT_USAGE
  }
  if (parsed.values.help) {
    io.out(KEYS_USAGE)
    return EXIT_OK
  }
  const [sub, ...rest] = parsed.positionals
  const activateIn = parsed.values['activate-in'] === undefined ? DEFAULT_ACTIVATE_IN : Number(parsed.values['activate-in'])
  const validDelay = Number.isInteger(activateIn) && activateIn >= 0 && activateIn <= 86_400
  if (rest.length || !(sub === 'list' || sub === 'rotate') || !validDelay || (sub === 'list' && parsed.values['activate-in'] !== undefined)) {
    io.err(KEYS_USAGE)
    return EXIT_USAGE
  }
  return withBastion(io.env, async (bastion, store, where) => {
    if (sub === 'rotate') {
      const kid = await bastion.rotateKeys({ activateIn })
      io.out(`new signing key ${kid} in ${where}, published now, signing ${activateIn === 0 ? 'now' : `from ${new Date(Date.now() + activateIn * 1000).toISOString()}`}`)
    }
    const now = Date.now()
    for (const k of (await store.listKeys()).sort((a, b) => b.createdAt - a.createdAt)) io.out(describe(k, now))
    return EXIT_OK
  })
}
