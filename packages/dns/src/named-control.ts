import type { CommandRunner, Logger } from '@podserve/runtime';
import { queryDns } from './query.js';
import type { DnsSettings } from './settings.js';

/** How long named may take to show a new zone serial after `rndc thaw` (inline signing re-signs first). */
const CONFIRM_MS = 15_000;

/** Talking to the running named: rndc on loopback, and its own answers (the SOA) as proof. */
export class NamedControl {
  /** The serial named serves, as last confirmed. */
  servedSerial: number | undefined;

  constructor(
    private readonly s: DnsSettings,
    private readonly commands: CommandRunner,
    private readonly log: Logger,
    private readonly signal: AbortSignal,
  ) {}

  async rndc(args: string[]): Promise<boolean> {
    const s = this.s;
    const result = await this.commands.run(
      ['rndc', '-k', s.paths.rndcKey, '-s', '127.0.0.1', '-p', String(s.rndcPort), ...args],
      { reject: false, timeoutMs: 15_000 },
    );
    if (result.exitCode === 0) return true;
    this.log.error({ args }, `rndc ${args.join(' ')} failed: ${(result.stderr || result.stdout).trim()}`);
    return false;
  }

  async soa(transport: 'udp' | 'tcp', timeoutMs: number) {
    const s = this.s;
    const answer = await queryDns({
      host: '127.0.0.1',
      port: s.port,
      name: s.zone,
      type: 'SOA',
      transport,
      dnssec: s.dnssec,
      timeoutMs,
    });
    const soa = answer.answers.find((a) => a.type === 6) as { serial?: number } | undefined;
    return { ...answer, serial: soa?.serial, signed: answer.answerTypes.includes('RRSIG') };
  }

  /** After a start or reload: named answers for the zone (signed, with DNSSEC), with at least `target` as its serial. */
  async confirmServing(target: number): Promise<boolean> {
    const deadline = Date.now() + CONFIRM_MS;
    for (;;) {
      const answer = await this.soa('udp', 1_000).catch(() => undefined);
      const signed = !this.s.dnssec || answer?.signed;
      if (answer?.aa && signed && (answer.serial ?? 0) >= target) {
        this.servedSerial = answer.serial;
        return true;
      }
      if (this.signal.aborted) {
        this.log.debug({ target }, 'the service is stopping: no longer waiting for the new serial');
        return false;
      }
      if (Date.now() > deadline) {
        this.log.error(
          { target, seen: answer?.serial },
          `named did not serve serial ${target} within ${CONFIRM_MS} ms`,
        );
        return false;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
