import type { X509Certificate } from 'node:crypto';
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { MaterialProblem, type ParsedPair, parsePair } from '@podserve/runtime/tls';
import type { KeyType } from './keys.js';
import { errCode, readOptional } from './storage/fsx.js';
import { GENERATIONS, type Layout, META } from './storage/layout.js';
import { type GenerationMeta, type IssuerKind, parseMeta } from './storage/meta.js';

export interface Expectation {
  names: readonly string[];
  issuer: IssuerKind;
  keyType: KeyType;
  /** acme: the directory URL the generation must come from. */
  directoryUrl?: string;
  /** selfsigned: the local CA the leaf must be signed by (absent: no CA yet, so any leaf is foreign). */
  localCa?: X509Certificate;
}

export interface Published {
  id: string;
  dir: string;
  pair: ParsedPair;
  meta: GenerationMeta | undefined;
  hasCa: boolean;
}

export type Inspection =
  | { state: 'missing' }
  /** Unreadable, unparsable or mismatched: must be moved aside. */
  | { state: 'corrupt'; reason: string; paths: string[] }
  /** A valid pair; `unfit` lists why it no longer matches the configuration (empty: it does). */
  | { state: 'present'; published: Published; unfit: string[]; expired: boolean };

/**
 * Startup validation of what is already published: parse it, check the key matches, and
 * say whether it still fits the configuration. Reads only; the caller decides what to do.
 */
export async function inspectPublished(layout: Layout, want: Expectation, now = Date.now()): Promise<Inspection> {
  let target: string;
  try {
    const st = await lstat(layout.current);
    if (!st.isSymbolicLink()) {
      return { state: 'corrupt', reason: `${layout.current} is not a symlink`, paths: [layout.current] };
    }
    target = await readlink(layout.current);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return { state: 'missing' };
    throw err;
  }
  if (!target.startsWith(`${GENERATIONS}/`) || target.includes('..')) {
    return { state: 'corrupt', reason: `current points outside generations/ (${target})`, paths: [layout.current] };
  }
  return inspectGeneration(layout, target.slice(GENERATIONS.length + 1), want, now);
}

/** The same checks for one generation directory, whether or not `current` names it. */
export async function inspectGeneration(
  layout: Layout,
  id: string,
  want: Expectation,
  now = Date.now(),
): Promise<Inspection> {
  const dir = layout.generation(id);
  let files: { cert?: string; key?: string; fullchain?: string; meta?: string; ca?: string };
  try {
    const [cert, key, fullchain, meta, ca] = await Promise.all(
      ['cert.pem', 'privkey.pem', 'fullchain.pem', META, 'ca.pem'].map((f) => readOptional(join(dir, f))),
    );
    files = { cert, key, fullchain, meta, ca };
  } catch (err) {
    return {
      state: 'corrupt',
      reason: `generation ${id} is unreadable (${errCode(err)})`,
      paths: [dir, layout.current],
    };
  }
  if (files.cert === undefined && files.key === undefined) {
    return {
      state: 'corrupt',
      reason: `current points at a missing or empty generation ${id}`,
      paths: [dir, layout.current],
    };
  }
  if (files.cert === undefined) return { state: 'corrupt', reason: `generation ${id} has no cert.pem`, paths: [dir] };
  if (files.key === undefined) return { state: 'corrupt', reason: `generation ${id} has no privkey.pem`, paths: [dir] };
  let pair: ParsedPair;
  try {
    pair = parsePair(files.cert, files.key, files.fullchain);
  } catch (err) {
    if (err instanceof MaterialProblem)
      return { state: 'corrupt', reason: `generation ${id}: ${err.message}`, paths: [dir] };
    throw err;
  }
  const meta = files.meta === undefined ? undefined : parseMeta(files.meta);
  const published: Published = { id, dir, pair, meta, hasCa: files.ca !== undefined };
  return { state: 'present', published, unfit: unfitReasons(published, want), expired: pair.notAfter.getTime() <= now };
}

function unfitReasons(p: Published, want: Expectation): string[] {
  const reasons: string[] = [];
  const have = new Set(p.pair.names);
  const missing = want.names.filter((n) => !have.has(n));
  const extra = p.pair.names.filter((n) => !want.names.includes(n));
  if (missing.length > 0) reasons.push(`names ${missing.join(', ')} are not covered`);
  if (extra.length > 0) reasons.push(`names ${extra.join(', ')} are no longer wanted`);
  if (p.pair.keyType !== want.keyType)
    reasons.push(`key is ${p.pair.keyType ?? 'of another type'}, want ${want.keyType}`);
  const issuer = p.meta?.issuer;
  if (issuer !== want.issuer) reasons.push(`issued by ${issuer ?? 'an unknown issuer'}, CERT_ISSUER=${want.issuer}`);
  else if (want.issuer === 'acme' && p.meta?.issuerId !== want.directoryUrl) {
    reasons.push(`issued by ${p.meta?.issuerId}, ACME_DIRECTORY_URL=${want.directoryUrl}`);
  } else if (want.issuer === 'selfsigned') {
    const ca = want.localCa;
    if (!ca || !p.pair.leaf.checkIssued(ca) || !p.pair.leaf.verify(ca.publicKey)) {
      reasons.push('not signed by the current local CA');
    }
  }
  return reasons;
}
