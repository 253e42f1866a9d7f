import { envTypes } from '@podserve/runtime';
import * as v from 'valibot';

/**
 * The local parts we accept: letters, digits and `. _ + -`, no dot at either end or twice in a
 * row. Narrower than RFC 5322 on purpose: an address is a key in dovecot's passwd-file (no `:`)
 * and in postfix's lookups (no spaces or quotes), and a quoted local part is a phishing tool,
 * not something a self-hosted server needs.
 */
const LOCAL_PART = /^[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*$/;
const MAX_LOCAL = 64;

/** Why `text` (already trimmed and lower-cased) is not an address we accept, or undefined. */
export function addressProblem(text: string, options: { catchAll?: boolean } = {}): string | undefined {
  const at = text.lastIndexOf('@');
  if (at < 0) return 'has no @';
  const local = text.slice(0, at);
  const domain = text.slice(at + 1);
  if (local === '' && !options.catchAll) return 'has nothing before the @';
  if (local.length > MAX_LOCAL) return `has a local part of ${local.length} characters (at most ${MAX_LOCAL})`;
  if (local !== '' && !LOCAL_PART.test(local)) {
    return `has the local part "${local}" (letters, digits and . _ + - only, no dot at either end or twice in a row)`;
  }
  const domainProblem = envTypes.hostnameProblem(domain);
  return domainProblem ? `has the domain "${domain}", which ${domainProblem}` : undefined;
}

/** Addresses compare case-insensitively here: stored and looked up in one form. */
export function normaliseAddress(text: string): string {
  return text.trim().toLowerCase();
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

/** An address as an input field: normalised, then checked, with the reason in the message. */
export function addressSchema(options: { catchAll?: boolean } = {}) {
  const example = options.catchAll ? 'alice@example.test, or @example.test for every address' : 'alice@example.test';
  return v.pipe(
    v.string(),
    v.transform(normaliseAddress),
    v.check(
      (a) => addressProblem(a, options) === undefined,
      (issue) =>
        `expected an address such as ${example}: "${issue.input as string}" ${addressProblem(issue.input as string, options)}`,
    ),
  );
}

/** An address as an environment variable. */
export function address(): envTypes.EnvType<string> {
  return { schema: addressSchema(), type: 'e-mail address' };
}
