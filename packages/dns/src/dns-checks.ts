import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { CheckResult, CommandRunner } from '@podserve/runtime';
import { keyClause } from './keys.js';
import type { DnsSettings } from './settings.js';
import { CONTROL_KEY } from './zone-source.js';
import { checkerMessage, type ZoneStore } from './zone-store.js';

/**
 * named-checkconf on named.conf, then named-checkzone on the zone (through the ZoneStore, which
 * checks it as it will be installed); a complaint about a DNS_ZONE_SNIPPET line names that file.
 */
export async function checkDnsSet(
  dir: string,
  s: DnsSettings,
  parts: { commands: CommandRunner; store: ZoneStore; dryRun: boolean },
): Promise<CheckResult> {
  const confFile = parts.dryRun ? withStandInKeys(dir) : join(dir, 'named.conf');
  const conf = await parts.commands.run(['named-checkconf', confFile], { reject: false, timeoutMs: 20_000 });
  if (conf.exitCode !== 0) return { ok: false, message: checkerMessage(`${conf.stdout}\n${conf.stderr}`) };
  const zoneFile = join(dir, `db.${s.zone}`);
  const verdict = await parts.store.checkZone(zoneFile);
  return verdict.ok ? verdict : { ok: false, message: inSnippet(s.snippetFile, zoneFile, verdict.message) };
}

/** A complaint about a line that came from DNS_ZONE_SNIPPET names that file and its own line. */
function inSnippet(snippet: string | undefined, zoneFile: string, message: string): string {
  const located = new RegExp(`${zoneFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:(\\d+): (.*)`).exec(message);
  if (!snippet || !located) return message;
  const marker = readFileSync(zoneFile, 'utf8')
    .split('\n')
    .findIndex((l) => l.startsWith('; DNS_ZONE_SNIPPET ('));
  const line = Number(located[1]) - (marker + 1);
  return marker >= 0 && line > 0 ? `DNS_ZONE_SNIPPET ${snippet}:${line}: ${located[2]}` : message;
}

/**
 * --dry-run writes no keys, so named.conf's includes would name files that are not there: the
 * checker reads a copy whose missing key files are stand-ins (a key clause with a random secret)
 * and whose working directory is the scratch directory.
 */
function withStandInKeys(dir: string): string {
  const text = readFileSync(join(dir, 'named.conf'), 'utf8')
    .replace(/^include "([^"]+)";$/gm, (line, path: string) => {
      if (existsSync(path)) return line;
      const name = { 'rndc.key': 'rndc-key', 'control.key': CONTROL_KEY }[basename(path)] ?? basename(path, '.key');
      return keyClause({ name, algorithm: 'hmac-sha256', secret: randomBytes(32).toString('base64') });
    })
    // named-checkconf changes into `directory`, which only a real start makes.
    .replace(/^(\s*(?:managed-keys-)?directory) "[^"]+";$/gm, `$1 "${dir}";`);
  const copy = join(dir, 'named.dry-run.conf');
  writeFileSync(copy, text);
  return copy;
}
