/** Device-bound sessions: DPoP proofs (RFC 9449) on session start and refresh. */
export { DeviceBinding, DEVICE_BINDING_POLICIES, type DeviceBindingOptions, type DeviceBindingPolicy, type RefreshProofVerdict, type RefreshRefusal } from './binding.ts'
export { dpopNonces, type Nonces, type NonceOptions } from './nonce.ts'
export { DPOP_ALGORITHMS, DpopError, normalizeHtu, verifyProof, type DpopAlgorithm, type DpopFailure, type VerifiedProof, type VerifyProofOptions } from './proof.ts'
export { memoryReplayCache, type MemoryReplayCacheOptions, type ReplayCache } from './replay-cache.ts'
