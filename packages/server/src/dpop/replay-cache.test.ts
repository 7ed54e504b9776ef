import { describeReplayCacheConformance } from './conformance.ts'
import { memoryReplayCache } from './replay-cache.ts'

describeReplayCacheConformance('memory', async () => memoryReplayCache())
