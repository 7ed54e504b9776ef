// The few parts of oidc-provider (which ships no types) that the test harness uses.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'
  interface Grant {
    addOIDCScope(scope: string): void
    save(): Promise<string>
  }
  interface InteractionDetails {
    uid: string
    prompt: { name: string }
    params: Record<string, string>
  }
  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>)
    proxy: boolean
    Grant: new (init: { accountId: string; clientId: string }) => Grant
    callback(): (req: IncomingMessage, res: ServerResponse) => void
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>
    on(event: string, listener: (...args: unknown[]) => void): void
  }
}
