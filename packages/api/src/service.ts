import { BaseService, type HealthResult, tlsProbe } from '@podserve/runtime';
import { CertificateFollower } from '@podserve/runtime/tls';
import { createApp } from './app.js';
import type { ApiEnv } from './config.js';
import { FailureLimiter } from './failure-limiter.js';
import { PodStatusCache } from './pod-status.js';
import { type ApiServer, startApiServer } from './server.js';
import { readTokens, refuseDevelopmentTokens, type TokenEntry } from './tokens.js';
import { Upstreams } from './upstream.js';

/**
 * `node dist/main.js api`: the pod's control API over HTTPS. No daemon: Node serves it, in a
 * container of its own whose memory is its own. It starts once the first certificate covering
 * DOMAIN is published, follows every renewal (new connections get the new pair, none fails),
 * and re-reads its token file on reload.
 */
export class ApiService extends BaseService<ApiEnv> {
  private tokens: TokenEntry[] = [];
  private upstreams!: Upstreams;
  private server: ApiServer | undefined;
  private follower: CertificateFollower | undefined;

  async configure(): Promise<boolean> {
    // A bad token file stops the start (configure failed, exit 73) before anything listens.
    this.tokens = await this.loadTokens();
    this.log.info(
      { tokens: this.tokens.map((t) => `${t.name} (${t.scope})`) },
      `API tokens: ${this.tokens.map((t) => `${t.name} (${t.scope})`).join(', ')}`,
    );
    this.upstreams = new Upstreams(this.config.API_CONTROL_DIR);
    return true;
  }

  private async loadTokens(): Promise<TokenEntry[]> {
    const file = this.config.API_TOKENS_FILE;
    const { entries, decoded } = await readTokens(file);
    if (decoded)
      this.log.info({ file }, `API_TOKENS_FILE (${file}) was base64-encoded (podman 4.3 mounts Secrets so): decoded`);
    if (this.ctx.common.environment === 'production') refuseDevelopmentTokens(entries, file);
    return entries;
  }

  async startProcesses(): Promise<boolean> {
    const { DOMAIN, CERT_PATH, API_PORT, API_ADDRESS } = this.config;
    const follower = new CertificateFollower(
      { certPath: CERT_PATH, names: [DOMAIN], log: this.log },
      {
        apply: async (pair) => {
          this.server?.setCertificate(pair);
          return this.server !== undefined;
        },
        served: () => this.served(),
        changed: () => this.ctx.healthChanged(),
      },
    );
    this.follower = follower;
    const pair = await follower.waitForFirst(this.ctx.signal);
    if (!pair) return false; // stopped while waiting
    const app = createApp({
      upstreams: this.upstreams,
      podStatus: new PodStatusCache(this.upstreams),
      tokens: () => this.tokens,
      limiter: new FailureLimiter(),
      log: this.log,
    });
    this.server = await startApiServer({ app: app as never, host: API_ADDRESS, port: API_PORT, pair });
    this.log.info(
      { address: API_ADDRESS, port: API_PORT, services: this.upstreams.services() },
      `API listening on https://${API_ADDRESS}:${API_PORT}/api/ with certificate generation ${pair.generation}`,
    );
    await follower.started(pair);
    return true;
  }

  /** The certificate the API serves now, by a handshake to its own port. */
  private async served(): Promise<string | undefined> {
    // The handshake is the answer: an HTTPS server says nothing until asked.
    const r = await tlsProbe({ port: this.config.API_PORT, servername: this.config.DOMAIN, timeoutMs: 2_000 }).catch(
      () => undefined,
    );
    return r?.fingerprint256;
  }

  override async readiness(): Promise<HealthResult> {
    const tls = this.follower?.health();
    if (!tls) return { ok: false, reason: 'not started yet' };
    if (!tls.ok) return tls;
    if (!this.server) return { ok: false, reason: 'the HTTPS server is not listening yet' };
    return { ok: true, reason: `HTTPS on ${this.config.API_PORT}; ${tls.reason}`, details: this.follower?.details() };
  }

  override async liveness(): Promise<HealthResult> {
    if (!this.server) return { ok: true, reason: 'starting' };
    return (await this.served()) !== undefined
      ? { ok: true, reason: 'HTTPS answers' }
      : { ok: false, reason: `no TLS answer on ${this.config.API_PORT} within 2 s` };
  }

  override statusDetails(): Record<string, unknown> {
    return {
      ...(this.follower?.details() ?? {}),
      services: this.upstreams?.services() ?? [],
      tokens: this.tokens.map((t) => ({ name: t.name, scope: t.scope })),
    };
  }

  /** SIGHUP or `ctl reload`: the token file again (added or revoked tokens), refused whole if it is bad. */
  override async reload(): Promise<boolean> {
    try {
      this.tokens = await this.loadTokens();
    } catch (err) {
      this.log.error(
        { err: (err as Error).message },
        `tokens not reloaded, the previous ones stay: ${(err as Error).message}`,
      );
      return false;
    }
    this.log.info(`API tokens reloaded: ${this.tokens.map((t) => `${t.name} (${t.scope})`).join(', ')}`);
    return true;
  }

  override async stop(): Promise<void> {
    await this.follower?.close();
    await this.server?.close();
    this.upstreams?.close();
  }
}
