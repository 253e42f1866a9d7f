import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandRunner, FileOps, Logger } from '@podserve/runtime';
import type { KeyOwner } from './keys.js';
import type { DnsSettings } from './settings.js';

/** The zone as named holds it now: its serial and the records RFC 2136 added. */
export interface LiveZone {
  serial: number;
  /** `_acme-challenge…` lines, absolute names, as named-compilezone prints them. */
  dynamic: string[];
}

const CHECK_TIMEOUT_MS = 20_000;

/**
 * The zone file named loads and updates, in the state volume. The configuration renders the
 * static part; RFC 2136 adds ACME's `_acme-challenge` TXT records to named's journal. A new
 * static part is installed like this, so that the two never collide across restarts:
 *   1. named's view of the zone (file + journal) is read with `named-compilezone -j`, and its
 *      `_acme-challenge` records are kept — they are the only dynamic records the update key
 *      may make, and DNS_RECORDS may not name them;
 *   2. the new file is the static part plus those records, checked with `named-checkzone`;
 *   3. it replaces the old file, and the journal, now folded in, is removed.
 * While named runs this happens between `rndc freeze` (named writes its journal into the
 * file and stops taking updates) and `rndc thaw` (named loads the new file).
 */
export class ZoneStore {
  constructor(
    private readonly s: DnsSettings,
    private readonly commands: CommandRunner,
    private readonly files: FileOps,
    private readonly owner: KeyOwner,
    private readonly log: Logger,
  ) {}

  /** The zone as named would load it, or undefined before the first start. */
  async live(): Promise<LiveZone | undefined> {
    const { zoneFile } = this.s.paths;
    if (!(await exists(zoneFile))) return undefined;
    const out = join(this.s.paths.workDir, `compiled.${this.s.zone}`);
    const result = await this.commands.run(
      ['named-compilezone', '-j', '-f', 'text', '-F', 'text', '-s', 'full', '-o', out, this.s.zone, zoneFile],
      { reject: false, timeoutMs: CHECK_TIMEOUT_MS },
    );
    try {
      if (result.exitCode !== 0) {
        throw new Error(`named-compilezone could not read ${zoneFile}: ${firstLine(result.stdout, result.stderr)}`);
      }
      return parseCompiled(await readFile(out, 'utf8'));
    } finally {
      await rm(out, { force: true });
    }
  }

  /** The static part installed last (what the configuration rendered then). */
  async installedStatic(): Promise<string | undefined> {
    return readFile(this.s.paths.renderedFile, 'utf8').catch(() => undefined);
  }

  /**
   * Installs `staticZone` with the dynamic records carried over. Returns false (the old zone
   * untouched) when the merged zone does not pass named-checkzone.
   */
  async install(staticZone: string): Promise<boolean> {
    const p = this.s.paths;
    const live = await this.live();
    const dynamic = live?.dynamic ?? [];
    const merged =
      dynamic.length === 0
        ? staticZone
        : `${staticZone}\n; RFC 2136 records (ACME DNS-01), carried over from the running zone\n${dynamic.join('\n')}\n`;
    const next = join(p.zonesDir, `.next.${this.s.zone}`);
    await this.files.writeFile(next, merged, { mode: 0o644, uid: this.owner.uid, gid: this.owner.gid });
    const verdict = await this.checkZone(next);
    if (!verdict.ok) {
      await rm(next, { force: true });
      this.log.error({ zone: this.s.zone }, `the zone with its dynamic records was refused: ${verdict.message}`);
      return false;
    }
    // Journal first: a new file with the old journal would have the journal replayed on it.
    await rm(`${p.zoneFile}.jnl`, { force: true });
    await rm(`${p.zoneFile}.jbk`, { force: true });
    await this.files.writeFile(p.zoneFile, merged, { mode: 0o644, uid: this.owner.uid, gid: this.owner.gid });
    await rm(next, { force: true });
    await this.files.writeFile(p.renderedFile, staticZone, { mode: 0o644 });
    this.log.info(
      { zone: this.s.zone, dynamic: dynamic.length, file: p.zoneFile },
      `zone ${this.s.zone} installed (${dynamic.length} dynamic record${dynamic.length === 1 ? '' : 's'} carried over)`,
    );
    return true;
  }

  /** `named-checkzone`: its complaint as `file:line: message`. */
  async checkZone(file: string): Promise<{ ok: true } | { ok: false; message: string }> {
    const result = await this.commands.run(['named-checkzone', '-q', this.s.zone, file], {
      reject: false,
      timeoutMs: CHECK_TIMEOUT_MS,
    });
    if (result.exitCode === 0) return { ok: true };
    // -q prints nothing: ask again for the reason.
    const loud = await this.commands.run(['named-checkzone', this.s.zone, file], {
      reject: false,
      timeoutMs: CHECK_TIMEOUT_MS,
    });
    return { ok: false, message: checkerMessage(`${loud.stdout}\n${loud.stderr}`) };
  }
}

/** The serial and the `_acme-challenge` records of a zone printed by named-compilezone. */
export function parseCompiled(text: string): LiveZone {
  let serial = 0;
  const dynamic: string[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[3] === 'SOA' && serial === 0) serial = Number(fields[6]);
    if (fields[0]?.toLowerCase().startsWith('_acme-challenge.')) dynamic.push(line.trim());
  }
  return { serial, dynamic };
}

/**
 * The checkers' first real complaint: `named-checkzone` says
 * "dns_master_load: /x/db.example.test:12: unknown RR type 'AA'" then "zone …: not loaded due to errors".
 */
export function checkerMessage(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^zone .*: (?:loaded serial|not loaded due to errors)/.test(l) && l !== 'OK');
  const located = lines.find((l) => /:\d+: /.test(l));
  // "dns_master_load: /x:12: …", "dns_rdata_fromtext: /x:12: …": the function name tells a user nothing.
  return (located ?? lines[0] ?? 'the checker refused it without saying why').replace(/^[a-z_]+: (?=\/)/, '');
}

function firstLine(...outputs: string[]): string {
  return (
    outputs
      .join('\n')
      .split('\n')
      .find((l) => l.trim() !== '') ?? 'no output'
  );
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
