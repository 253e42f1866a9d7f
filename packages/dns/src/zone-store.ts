import { readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandRunner, FileOps, Logger } from '@podserve/runtime';
import type { KeyOwner } from './keys.js';
import type { DnsSettings } from './settings.js';
import { nextSerial } from './zone.js';

/** A zone as named-compilezone prints it: its serial and every other record, one canonical line each. */
export interface CompiledZone {
  serial: number;
  records: string[];
}

/** One canonical record line, taken apart. */
export interface RecordLine {
  owner: string;
  ttl: number;
  type: string;
  data: string;
}

export type InstallOutcome = { ok: true; serial: number } | { ok: false; message: string };

const CHECK_TIMEOUT_MS = 20_000;
/** Scratch files of concurrent compiles (an install and a `records` action) never share a name. */
let scratch = 0;
/** Records named makes itself when it signs: never configuration, never dynamic. */
const SIGNING_TYPES = new Set(['RRSIG', 'NSEC', 'NSEC3', 'NSEC3PARAM', 'DNSKEY', 'CDS', 'CDNSKEY', 'TYPE65534']);

/**
 * The zone file named loads and updates, in the state volume. The configuration renders the
 * static part (with serial 0: the serial is given here, at install); RFC 2136 updates land in
 * named's journal. A new static part is installed so that the two never collide:
 *   1. named's view of the zone (file + journal) is read with `named-compilezone -j`; the
 *      dynamic records are what it holds beyond the static part installed last;
 *   2. a dynamic record the new configuration now sets itself (same name and type, or a CNAME
 *      on either side) is dropped, with a warning: the configuration wins;
 *   3. the serial goes past every serial named has served (the raw zone's and the signed copy's);
 *   4. the new file (static + dynamic) must pass `named-checkzone`, replaces the old one in one
 *      rename, and only then is the journal, now folded in, removed.
 * While named runs, this happens between `rndc freeze` (named writes its journal into the file
 * and takes no updates) and `rndc thaw` (named loads the new file). Files named cannot read
 * are moved aside with a timestamp, never deleted.
 */
export class ZoneStore {
  /** The static records installed last, canonical: what the control actions may not change. */
  private staticRecords: RecordLine[] | undefined;

  constructor(
    private readonly s: DnsSettings,
    private readonly commands: CommandRunner,
    private readonly files: FileOps,
    private readonly owner: KeyOwner,
    private readonly log: Logger,
  ) {}

  /** The zone as named would load it now, or undefined before the first start. */
  async live(): Promise<CompiledZone | undefined> {
    const { zoneFile } = this.s.paths;
    const journal = `${zoneFile}.jnl`;
    if (!(await exists(zoneFile))) {
      if (await exists(journal)) await this.moveAside(journal, 'its zone file is missing, so named cannot apply it');
      return undefined;
    }
    const withJournal = await this.compile(zoneFile, { journal: true });
    if (withJournal.ok) return withJournal.zone;
    const alone = await this.compile(zoneFile, { journal: false });
    if (alone.ok) {
      await this.moveAside(journal, `named-compilezone cannot apply it: ${withJournal.message}`);
      return alone.zone;
    }
    await this.moveAside(zoneFile, `named-compilezone cannot read it: ${alone.message}`);
    if (await exists(journal)) await this.moveAside(journal, 'its zone file was unreadable');
    return undefined;
  }

  /** The static part installed last (serial 0), or undefined before the first install. */
  async installedStatic(): Promise<string | undefined> {
    return readFile(this.s.paths.renderedFile, 'utf8').catch(() => undefined);
  }

  /** What RFC 2136 added: named's records beyond the static part installed last. */
  async dynamicNow(): Promise<RecordLine[]> {
    const live = await this.live();
    if (!live) return [];
    return (await this.dynamicOf(live, await this.installedStatic())).map(parseLine);
  }

  /** The static records installed last: the control actions refuse to change them. */
  async staticNow(): Promise<RecordLine[]> {
    if (!this.staticRecords) {
      const installed = await this.installedStatic();
      this.staticRecords = installed === undefined ? [] : (await this.canonical(installed)).records.map(parseLine);
    }
    return this.staticRecords;
  }

  /** Installs `staticZone` (rendered with serial 0) with a fresh serial and the dynamic records. */
  async install(staticZone: string): Promise<InstallOutcome> {
    const p = this.s.paths;
    const live = await this.live();
    const newStatic = await this.canonical(staticZone).catch((err: Error) => err);
    if (newStatic instanceof Error) return { ok: false, message: newStatic.message };
    const dynamic = live ? await this.dynamicOf(live, await this.installedStatic()) : [];
    const kept = dynamic.filter((line) => {
      const clash = collision(parseLine(line), newStatic.records.map(parseLine));
      if (clash) this.log.warn({ record: line }, `the configuration now sets ${clash}: the dynamic record is dropped`);
      return !clash;
    });
    const serial = nextSerial(Math.max(live?.serial ?? 0, await this.signedSerial()) || undefined);
    const text = [
      withSerial(staticZone, serial).trimEnd(),
      ...(kept.length > 0 ? ['; Dynamic records (RFC 2136), carried over from the running zone', ...kept] : []),
      '',
    ].join('\n');
    const next = join(p.zonesDir, `.next.${this.s.zone}`);
    await this.files.writeFile(next, text, { mode: 0o644, uid: this.owner.uid, gid: this.owner.gid });
    const verdict = await this.checkZone(next);
    if (!verdict.ok) {
      await rm(next, { force: true });
      const message = `the zone with its dynamic records was refused: ${verdict.message}`;
      this.log.error({ zone: this.s.zone }, message);
      return { ok: false, message };
    }
    // The new file first, in one rename; then the journal, now folded in. A crash between the
    // two leaves a journal older than the file, which named (and live()) set aside.
    await rename(next, p.zoneFile);
    await rm(`${p.zoneFile}.jnl`, { force: true });
    await rm(`${p.zoneFile}.jbk`, { force: true });
    await this.files.writeFile(p.renderedFile, staticZone, { mode: 0o644 });
    this.staticRecords = newStatic.records.map(parseLine);
    this.log.info(
      { zone: this.s.zone, serial, dynamic: kept.length, file: p.zoneFile },
      `zone ${this.s.zone} installed with serial ${serial} (${kept.length} dynamic record${kept.length === 1 ? '' : 's'} kept)`,
    );
    return { ok: true, serial };
  }

  /** `named-checkzone`: its complaint as `file:line: message`. */
  async checkZone(file: string): Promise<{ ok: true } | { ok: false; message: string }> {
    const result = await this.commands.run(['named-checkzone', this.s.zone, file], {
      reject: false,
      timeoutMs: CHECK_TIMEOUT_MS,
    });
    if (result.exitCode === 0) return { ok: true };
    return { ok: false, message: checkerMessage(`${result.stdout}\n${result.stderr}`) };
  }

  /** Records of `live` that are not in the static part installed last. */
  private async dynamicOf(live: CompiledZone, installed: string | undefined): Promise<string[]> {
    // No record of the last install (a volume from before it was kept): only ACME's records
    // are known to be dynamic; everything else the new render sets again anyway.
    if (installed === undefined) return live.records.filter((l) => parseLine(l).owner.startsWith('_acme-challenge.'));
    const before = new Set((await this.canonical(installed)).records);
    return live.records.filter((l) => !before.has(l) && !SIGNING_TYPES.has(parseLine(l).type));
  }

  /** The highest serial of the signed copy (inline signing), which named raises on every re-signing. */
  private async signedSerial(): Promise<number> {
    const signed = `${this.s.paths.zoneFile}.signed`;
    if (!(await exists(signed))) return 0;
    const compiled = await this.compile(signed, { journal: true, format: 'raw' });
    return compiled.ok ? compiled.zone.serial : 0;
  }

  /** A zone text (relative names, $ORIGIN) in canonical form, to compare record by record. */
  private async canonical(text: string): Promise<CompiledZone> {
    const file = join(this.s.paths.workDir, `canonical.${this.s.zone}.${process.pid}.${++scratch}`);
    await this.files.writeFile(file, text, { mode: 0o600 });
    try {
      const compiled = await this.compile(file, { journal: false });
      if (!compiled.ok) throw new Error(`the rendered zone was refused: ${compiled.message}`);
      return compiled.zone;
    } finally {
      await rm(file, { force: true });
    }
  }

  private async compile(
    file: string,
    options: { journal: boolean; format?: 'text' | 'raw' },
  ): Promise<{ ok: true; zone: CompiledZone } | { ok: false; message: string }> {
    const out = join(this.s.paths.workDir, `compiled.${this.s.zone}.${process.pid}.${++scratch}`);
    const argv = [
      'named-compilezone',
      ...(options.journal ? ['-j'] : []),
      '-f',
      options.format ?? 'text',
      '-F',
      'text',
      '-s',
      'full',
      '-o',
      out,
      this.s.zone,
      file,
    ];
    try {
      const result = await this.commands.run(argv, { reject: false, timeoutMs: CHECK_TIMEOUT_MS });
      if (result.exitCode !== 0) return { ok: false, message: checkerMessage(`${result.stdout}\n${result.stderr}`) };
      return { ok: true, zone: parseCompiled(await readFile(out, 'utf8')) };
    } finally {
      await rm(out, { force: true });
    }
  }

  private async moveAside(file: string, why: string): Promise<void> {
    const aside = `${file}.unreadable-${new Date().toISOString().replace(/[:.]/g, '')}`;
    await rename(file, aside);
    this.log.error({ file, aside }, `${file} set aside as ${aside}: ${why}`);
  }
}

/** The serial and the other records of a zone printed by named-compilezone (-s full). */
export function parseCompiled(text: string): CompiledZone {
  let serial = 0;
  const records: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith(';')) continue;
    const fields = line.split(/\s+/);
    if (fields[3] === 'SOA') {
      serial = Number(fields[6]);
      continue;
    }
    records.push(canonicalLine(line));
  }
  return { serial, records };
}

/** `owner TTL IN TYPE data` with single spaces between the fixed fields. */
function canonicalLine(line: string): string {
  const match = /^(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line);
  return match ? `${match[1]?.toLowerCase()} ${match[2]} ${match[3]} ${match[4]} ${match[5]}` : line;
}

export function parseLine(line: string): RecordLine {
  const [owner = '', ttl = '0', , type = '', ...data] = line.split(' ');
  return { owner, ttl: Number(ttl), type, data: data.join(' ') };
}

/** Why `record` cannot live beside `configured`, or undefined: same name and type, or a CNAME on either side. */
export function collision(record: RecordLine, configured: readonly RecordLine[]): string | undefined {
  const atName = configured.filter((c) => c.owner === record.owner);
  const same = atName.find((c) => c.type === record.type);
  if (same) return `${record.owner} ${record.type}`;
  const cname = atName.find((c) => c.type === 'CNAME');
  if (cname) return `${record.owner} CNAME`;
  if (record.type === 'CNAME' && atName.length > 0) return `other records at ${record.owner}`;
  return undefined;
}

/** The zone text with its SOA serial set. */
export function withSerial(zone: string, serial: number): string {
  return zone.replace(/(\bSOA\s+\S+\s+\S+\s+\(\s*)\d+/, `$1${serial}`);
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

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
