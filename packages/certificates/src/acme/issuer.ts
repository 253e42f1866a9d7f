import type { X509Certificate } from 'node:crypto';
import type { CommandRunner, Logger } from '@podserve/runtime';
import { splitPemCertificates } from '@podserve/runtime/tls';
import type acmeClient from 'acme-client';
import type { Authorization, Client } from 'acme-client';
import { IssuanceError, type IssuedMaterial, type IssueRequest, type Issuer } from '../issuer.js';
import { generatePrivateKey } from '../keys.js';
import type { AcmeSettings, Settings } from '../settings.js';
import type { Ownership } from '../storage/fsx.js';
import type { Layout } from '../storage/layout.js';
import { AccountStore } from './account.js';
import { ariCertId, parseRenewalInfo, pickInWindow } from './ari.js';
import { Dns01Updater } from './dns01.js';
import { Http01Responder } from './http01.js';
import { TlsAlpn01Responder } from './tls-alpn01.js';
import { configureTransport, describeError, isTransient, rateLimitFor } from './transport.js';

type Acme = typeof acmeClient;
type Challenge = Authorization['challenges'][number];

/** Quick retries inside one attempt, for network blips; longer outages go to the persisted backoff. */
const QUICK_RETRIES_MS = [1_000, 3_000];

interface Solver {
  present(authz: Authorization, challenge: Challenge, keyAuthorization: string): Promise<void>;
  cleanup(authz: Authorization, challenge: Challenge, keyAuthorization: string): Promise<void>;
  close(): Promise<void>;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/**
 * ACME issuance with acme-client's low-level calls (not `auto`): the order can carry ARI's
 * `replaces`, each step is logged and bounded, and the challenge responders are ours.
 */
export class AcmeIssuer implements Issuer {
  readonly kind = 'acme' as const;
  private acme: Acme | undefined;
  private readonly accounts: AccountStore;
  private readonly cfg: AcmeSettings;
  /** ARI: the renewal time chosen per certificate (chosen once per window, not re-rolled each query). */
  private readonly ariChoice = new Map<string, { start: number; end: number; at: Date }>();

  constructor(
    settings: Settings,
    private readonly log: Logger,
    private readonly commands: CommandRunner,
  ) {
    if (!settings.acme) throw new Error('AcmeIssuer without ACME settings');
    this.cfg = settings.acme;
    this.accounts = new AccountStore(
      settings.layout as Layout,
      this.cfg.directoryUrl,
      settings.owner as Ownership,
      log,
    );
  }

  async issue(request: IssueRequest): Promise<IssuedMaterial> {
    const acme = await this.load();
    for (let attempt = 0; ; attempt++) {
      const limited = rateLimitFor(this.cfg.directoryUrl);
      if (limited)
        throw new IssuanceError(
          `the ACME server asked us to wait until ${limited.toISOString()} (rate limit)`,
          limited,
        );
      try {
        return await this.attempt(acme, request);
      } catch (err) {
        if (request.signal.aborted)
          throw new IssuanceError(`issuance aborted: ${describeError(request.signal.reason)}`);
        const limitedNow = rateLimitFor(this.cfg.directoryUrl);
        if (limitedNow) throw new IssuanceError(`rate-limited by the ACME server: ${describeError(err)}`, limitedNow);
        const delay = QUICK_RETRIES_MS[attempt];
        if (delay === undefined || !isTransient(err)) throw new IssuanceError(describeError(err));
        this.log.debug(
          { err: describeError(err), attempt: attempt + 1, delayMs: delay },
          'transient ACME error; retrying',
        );
        await sleep(delay, request.signal);
      }
    }
  }

  /** RFC 9773: when the CA suggests renewing this certificate; undefined when it offers no ARI. */
  async suggestedRenewal(leaf: X509Certificate): Promise<Date | undefined> {
    const acme = await this.load();
    const certId = ariCertId(leaf);
    if (!certId) return undefined;
    const client = await this.client(acme);
    const directory = (await (
      client as unknown as { api: { http: { getDirectory(): Promise<Record<string, unknown>> } } }
    ).api.http.getDirectory()) as {
      renewalInfo?: string;
    };
    if (!directory.renewalInfo) return undefined;
    const url = `${directory.renewalInfo.replace(/\/$/, '')}/${certId}`;
    const response = await acme.axios.get(url, { timeout: this.cfg.timeoutMs });
    if (response.status !== 200) throw new Error(`GET ${url}: HTTP ${response.status}`);
    const info = parseRenewalInfo(response.data);
    if (!info) throw new Error(`GET ${url}: no suggestedWindow in the answer`);
    const cached = this.ariChoice.get(certId);
    if (cached && cached.start === info.start.getTime() && cached.end === info.end.getTime()) return cached.at;
    const at = pickInWindow(info);
    this.ariChoice.set(certId, { start: info.start.getTime(), end: info.end.getTime(), at });
    this.log.debug({ certId, window: info, at, explanation: info.explanationURL }, 'ARI renewal window');
    return at;
  }

  async close(): Promise<void> {
    // Responders are per order and already closed; nothing long-lived to free.
  }

  private async load(): Promise<Acme> {
    if (!this.acme) {
      const mod = (await import('acme-client')) as unknown as { default?: Acme } & Acme;
      this.acme = mod.default ?? mod;
    }
    configureTransport(this.acme, this.cfg.directoryUrl, this.cfg.caPem, this.cfg.timeoutMs, this.log);
    return this.acme;
  }

  private async client(acme: Acme): Promise<Client> {
    return new acme.Client({
      directoryUrl: this.cfg.directoryUrl,
      accountKey: await this.accounts.key(),
      // acme-client's default first poll after 5 s costs ~5 s per issuance; 100 ms doubling (to 5 s) is still gentle.
      backoffMin: 100,
      backoffMax: 5_000,
      backoffAttempts: 12,
    });
  }

  private async attempt(acme: Acme, request: IssueRequest): Promise<IssuedMaterial> {
    const { signal, names } = request;
    const client = await this.client(acme);
    signal.throwIfAborted();
    // newAccount with an existing key returns that account: cheap, and it also re-creates the
    // account when the CA forgot it (pebble restarted, an account deactivated).
    const contact = [`mailto:${this.cfg.email}`];
    const account = await client.createAccount({ termsOfServiceAgreed: true, contact });
    const url = client.getAccountUrl();
    const record = await this.accounts.record();
    if (record?.url !== url) {
      await this.accounts.saveRecord({
        directoryUrl: this.cfg.directoryUrl,
        url,
        contact,
        createdAt: new Date().toISOString(),
      });
      this.log.info({ account: url }, 'ACME account registered');
    }
    if (JSON.stringify(account.contact ?? []) !== JSON.stringify(contact)) {
      await client.updateAccount({ contact });
      this.log.info({ account: url, contact }, 'ACME account contact updated');
    }
    signal.throwIfAborted();

    const identifiers = names.map((value) => ({ type: 'dns' as const, value }));
    const replaces = request.previous ? await this.replacesId(request.previous) : undefined;
    let order: Awaited<ReturnType<Client['createOrder']>>;
    try {
      order = await client.createOrder({ identifiers, ...(replaces ? { replaces } : {}) } as Parameters<
        Client['createOrder']
      >[0]);
    } catch (err) {
      if (!replaces) throw err;
      // A CA may refuse `replaces` (already replaced, unknown cert): the renewal matters more than the hint.
      this.log.debug({ err: describeError(err) }, 'order with ARI replaces refused; ordering without it');
      order = await client.createOrder({ identifiers });
    }
    this.log.debug({ order: order.url, status: order.status, replaces }, 'ACME order created');
    signal.throwIfAborted();

    const authorizations = await client.getAuthorizations(order);
    const pending = authorizations.filter((a) => a.status !== 'valid');
    this.log.debug({ total: authorizations.length, pending: pending.length }, 'ACME authorizations fetched');
    if (pending.length > 0) {
      const solver = await this.openSolver(acme);
      try {
        await Promise.all(pending.map((authz) => this.solve(client, authz, solver, signal)));
      } finally {
        await solver.close();
      }
    }
    signal.throwIfAborted();

    const keyPem = await generatePrivateKey(request.keyType);
    const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: names }, keyPem);
    const finalized = await client.finalizeOrder(order, csr);
    this.log.debug({ order: finalized.url, status: finalized.status }, 'ACME order finalized');
    const chainPem = await client.getCertificate(finalized);
    const [leaf, ...intermediates] = splitPemCertificates(chainPem);
    if (!leaf) throw new Error('the ACME server returned no certificate');
    return {
      certPem: leaf,
      chainPem: intermediates.join(''),
      keyPem,
      keyType: request.keyType,
      issuerId: this.cfg.directoryUrl,
    };
  }

  private async replacesId(previous: X509Certificate): Promise<string | undefined> {
    try {
      return (await this.suggestedRenewal(previous)) ? ariCertId(previous) : undefined;
    } catch (err) {
      this.log.debug({ err: describeError(err) }, 'ARI lookup failed; ordering without replaces');
      return undefined;
    }
  }

  private async solve(client: Client, authz: Authorization, solver: Solver, signal: AbortSignal): Promise<void> {
    const type = this.cfg.challenge;
    const name = `${authz.wildcard ? '*.' : ''}${authz.identifier.value}`;
    const challenge = authz.challenges.find((c) => c.type === type);
    if (!challenge) {
      throw new Error(
        `the CA offers no ${type} challenge for ${name} (offers ${authz.challenges.map((c) => c.type).join(', ')})`,
      );
    }
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    await solver.present(authz, challenge, keyAuthorization);
    try {
      signal.throwIfAborted();
      this.log.debug({ name, type }, 'ACME challenge presented; asking the CA to validate');
      await client.completeChallenge(challenge);
      await client.waitForValidStatus(challenge);
      this.log.debug({ name, type }, 'ACME challenge valid');
    } catch (err) {
      throw new Error(`${type} validation of ${name} failed: ${describeError(err)}`);
    } finally {
      await solver
        .cleanup(authz, challenge, keyAuthorization)
        .catch((err: unknown) => this.log.warn({ err: describeError(err), name }, 'could not clean up the challenge'));
    }
  }

  private async openSolver(acme: Acme): Promise<Solver> {
    const { challenge } = this.cfg;
    if (challenge === 'http-01') {
      const responder = new Http01Responder(this.cfg.httpPort, this.log);
      await responder.open();
      return {
        present: async (_a, c, ka) => responder.set(c.token, ka),
        cleanup: async (_a, c) => responder.delete(c.token),
        close: () => responder.close(),
      };
    }
    if (challenge === 'tls-alpn-01') {
      const responder = new TlsAlpn01Responder(this.cfg.tlsPort, this.log);
      await responder.open();
      return {
        present: async (a, _c, ka) => {
          const [key, cert] = await acme.crypto.createAlpnCertificate(a, ka);
          responder.set(a.identifier.value, key.toString(), cert.toString());
        },
        cleanup: async (a) => responder.delete(a.identifier.value),
        close: () => responder.close(),
      };
    }
    const dns = this.cfg.dns;
    if (!dns) throw new Error('dns-01 without DNS settings');
    const updater = new Dns01Updater(dns, this.commands, this.cfg.timeoutMs, this.log);
    return {
      present: async (a, _c, value) => {
        await updater.add(a.identifier.value, value);
        await updater.waitForPropagation();
      },
      cleanup: (a, _c, value) => updater.remove(a.identifier.value, value),
      close: async () => undefined,
    };
  }
}
