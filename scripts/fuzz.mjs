#!/usr/bin/env node
// `npm run fuzz`: the adversarial suite's properties with many more cases than
// `npm test` runs (BASTION_FUZZ_RUNS multiplies each property's count; default
// 100). BASTION_FUZZ_SEED picks another seed (default: the fixed one of npm test),
// e.g. `BASTION_FUZZ_SEED=$RANDOM npm run fuzz`; a failure prints its seed and
// counterexample, so it can be replayed.
import { spawnSync } from 'node:child_process'

const env = { ...process.env, BASTION_FUZZ_RUNS: process.env.BASTION_FUZZ_RUNS ?? '100' }
process.stdout.write(`fuzz: ${env.BASTION_FUZZ_RUNS}× the npm test case counts, seed ${env.BASTION_FUZZ_SEED ?? '20261123 (fixed)'}\n`)
const r = spawnSync('npx', ['vitest', 'run', 'packages/server/src/adversarial', 'apps/demo/src/transfer-fuzz.test.ts', '--testTimeout=1800000', ...process.argv.slice(2)], { stdio: 'inherit', env })
process.exit(r.status ?? 1)
