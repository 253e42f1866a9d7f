import { X509Certificate } from 'node:crypto';
import { BaseService, defineEnv, defineService, type EnvValues, envTypes, type HealthResult } from '@podserve/runtime';
import { type CertificatePair, type CertificateWatcher, watchCertificates } from '@podserve/runtime/tls';

const certWatchEnv = defineEnv({
  CERT_PATH: {
    ...envTypes.absolutePath(),
    default: '/data/state/certificates',
    description: 'The published certificates to read; a read-only mount is enough.',
  },
});

/**
 * What every consumer of the certificates volume does, as a service of its own: read a
 * consistent pair, then notice each new generation (verified before it is reported).
 * In the pod it stands in for apache until that exists, and proves the read-only
 * mount works; as a sidecar it is a template for reloading a daemon on renewal.
 */
class CertWatchService extends BaseService<EnvValues<typeof certWatchEnv>> {
  private watcher: CertificateWatcher | undefined;
  private pair: CertificatePair | undefined;
  private generationsSeen = 0;
  private waitingFor: string | undefined;

  async configure(): Promise<boolean> {
    return true; // reads only: nothing to render
  }

  async startProcesses(): Promise<boolean> {
    const certPath = this.config.CERT_PATH;
    this.log.debug({ certPath }, 'watching for certificate generations');
    this.watcher = watchCertificates(certPath, (pair) => this.accept(pair), {
      emitInitial: true,
      onError: (err) =>
        this.log.warn({ certPath, err: err.message }, `ignored an unusable certificate generation: ${err.message}`),
      onDegraded: (reason) => this.log.warn({ certPath }, reason),
      // Waiting, not failing: in a pod the volume may be filled after this container starts.
      onWaiting: (reason) => {
        this.waitingFor = reason;
        this.log.info({ certPath }, `waiting for CERT_PATH: ${reason}`);
        this.ctx.healthChanged();
      },
    });
    // Readiness-gated: the service is "starting" until CERT_PATH exists and is watched.
    await this.watcher.ready;
    if (this.ctx.signal.aborted) return false; // stopped while waiting
    this.waitingFor = undefined;
    if (!this.pair) this.log.info({ certPath }, 'no certificate published yet; waiting for one');
    return true;
  }

  private accept(pair: CertificatePair): void {
    this.pair = pair;
    this.generationsSeen += 1;
    const fingerprint = new X509Certificate(pair.cert).fingerprint256;
    this.log.info(
      { generation: pair.generation, names: pair.names, notAfter: pair.notAfter.getTime(), fingerprint },
      this.generationsSeen === 1
        ? `read certificate generation ${pair.generation}: key matches certificate`
        : `new certificate generation ${pair.generation}: key matches certificate (${this.generationsSeen} seen)`,
    );
    this.ctx.healthChanged();
  }

  override async readiness(): Promise<HealthResult> {
    const pair = this.pair;
    if (!pair) {
      return { ok: false, reason: this.waitingFor ?? `no matching certificate pair in ${this.config.CERT_PATH} yet` };
    }
    if (pair.notAfter.getTime() <= Date.now()) {
      return { ok: false, reason: `certificate generation ${pair.generation} expired` };
    }
    return {
      ok: true,
      reason: `generation ${pair.generation} for ${pair.names.join(', ')}, key matches certificate`,
      details: { generation: pair.generation, generationsSeen: this.generationsSeen },
    };
  }

  override async liveness(): Promise<HealthResult> {
    return { ok: this.watcher !== undefined, reason: this.watcher ? 'watching' : 'not watching' };
  }

  override async reload(): Promise<boolean> {
    return true; // nothing to re-read: the watcher follows the volume by itself
  }

  override async stop(): Promise<void> {
    await this.watcher?.close();
  }
}

/** `node dist/main.js cert-watch`: a certificates-volume consumer. */
export const certWatchService = defineService({
  name: 'cert-watch',
  summary: 'read the published certificate pair and follow each renewal (a consumer of the certificates volume)',
  modes: ['watch'],
  env: certWatchEnv,
  create: (ctx) => new CertWatchService(ctx),
});
