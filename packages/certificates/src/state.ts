import { readFile } from 'node:fs/promises';
import type { Logger } from '@podserve/runtime';
import { writeFileAtomic } from '@podserve/runtime';
import { ensureDir, type Ownership } from './storage/fsx.js';
import { type Layout, MODES } from './storage/layout.js';

/**
 * Failure bookkeeping that survives restarts: a container that crash-loops must not turn
 * into an issuance loop against the CA (rate limits lock a domain out for hours).
 */
export interface RenewalState {
  /** What was being asked for; a different request starts with a clean slate. */
  fingerprint: string;
  failures: number;
  lastError?: string;
  lastFailureAt?: string;
  /** No automatic attempt before this (ISO time). */
  nextAttemptAt?: string;
}

export async function loadState(layout: Layout, fingerprint: string): Promise<RenewalState> {
  try {
    const state = JSON.parse(await readFile(layout.renewalState, 'utf8')) as RenewalState;
    if (state.fingerprint === fingerprint && typeof state.failures === 'number') return state;
  } catch {
    // Missing or unreadable: start clean (the worst case is one attempt too early).
  }
  return { fingerprint, failures: 0 };
}

/**
 * Persists the state, private to the writer (0600 in a 0700 directory): consumers mount the
 * volume and have no business reading it. `lastError` is free text from the CA or a tool, so
 * it is scrubbed of configured secrets here, at the last step before the disk.
 */
export async function saveState(
  layout: Layout,
  state: RenewalState,
  owner: Ownership | undefined,
  log: Logger,
  redact: (text: string) => string,
): Promise<void> {
  const safe = state.lastError === undefined ? state : { ...state, lastError: redact(state.lastError) };
  try {
    await ensureDir(layout.stateDir, MODES.secretDir, owner);
    await writeFileAtomic(layout.renewalState, `${JSON.stringify(safe, null, 2)}\n`, { mode: MODES.secret });
  } catch (err) {
    // A full disk must not turn a renewal failure into a crash; the in-memory state still applies.
    log.warn({ err: (err as Error).message, path: layout.renewalState }, 'could not save the renewal state');
  }
}
