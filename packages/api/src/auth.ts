import type { Context, MiddlewareHandler } from 'hono';
import { fail } from './answers.js';
import type { FailureLimiter } from './failure-limiter.js';
import { allows, authenticate, type Scope, type TokenEntry } from './tokens.js';

export interface ApiVariables {
  caller: TokenEntry;
  address: string;
}

/** The client's address as the TLS connection has it (no X-Forwarded-For: nothing trusted sits in front). */
export function clientAddress(c: Context): string {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? 'unknown';
}

/**
 * Bearer tokens: 401 without one or with one that matches no entry, each such attempt counted
 * against the client's address; past the limit 429 with Retry-After, even for a good token,
 * until the window ends. The token is never logged, nor echoed in an answer.
 */
export function authenticateBearer(tokens: () => readonly TokenEntry[], limiter: FailureLimiter): MiddlewareHandler {
  return async (c, next) => {
    const address = clientAddress(c);
    c.set('address', address);
    const wait = limiter.retryAfter(address);
    if (wait > 0) {
      return fail(
        c,
        'rate_limited',
        `too many failed authentications from ${address}; try again in ${wait} s`,
        { retryAfterSeconds: wait },
        { 'retry-after': String(wait) },
      );
    }
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S{1,512})\s*$/i.exec(header);
    const entry = match ? authenticate(tokens(), match[1] as string) : undefined;
    if (!entry) {
      limiter.fail(address);
      const why = header === '' ? 'no Authorization header' : match ? 'the token is not valid' : 'not a Bearer token';
      return fail(c, 'unauthorized', `${why}: send Authorization: Bearer TOKEN`, undefined, {
        'www-authenticate': 'Bearer realm="podserve"',
      });
    }
    c.set('caller', entry);
    await next();
    return undefined;
  };
}

/** 403 for a token whose scope is too low. */
export function forbidden(c: Context, caller: TokenEntry, needed: Scope): Response | undefined {
  if (allows(caller.scope, needed)) return undefined;
  return fail(c, 'forbidden', `the token "${caller.name}" has the ${caller.scope} scope; this needs ${needed}`);
}
