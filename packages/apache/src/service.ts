import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { type CheckResult, ConfigSet, type HealthResult, type ProcessSpec, tlsProbe } from '@podserve/runtime';
import { type DaemonCertificates, DaemonService, reloadAndConfirm } from '@podserve/runtime/daemon';
import type { CertificatePair } from '@podserve/runtime/tls';
import type { ApacheEnv } from './config.js';
import { CHECK_SITE_DEFINE, renderApache } from './httpd-conf.js';
import { type ApacheSettings, apacheSettings, FAST_STOP_MS } from './settings.js';

const APACHE = '/usr/sbin/apache2';
/** apache's "resuming normal operations" once a graceful restart has its new configuration live. */
const APACHE_RESUMED = 'AH00489';
/** How long a graceful restart may take to say it is done. */
const RESTART_PROOF_MS = 10_000;

/** The apache process, as data: what `--dry-run`, status and the control socket show. */
export function apacheProcess(s: ApacheSettings): ProcessSpec {
  // The ConfigSet's `current` link: a graceful restart reads whatever set is current then.
  const configFile = join(s.runDir, 'conf', 'current', 'httpd.conf');
  return {
    name: 'apache',
    command: APACHE,
    args: ['-f', configFile, '-D', 'FOREGROUND'],
    // apache reads no environment of ours: its config is all in the rendered file.
    restart: 'always',
    critical: false,
    // SIGUSR1: graceful restart (new config, in-flight requests finish); SIGWINCH: graceful stop,
    // which apache itself cuts short after GracefulShutdownTimeout; SIGTERM, the fast stop, ends
    // a download that outlasts that while apache still stops its own workers; SIGKILL at the
    // end of the budget. All inside STOP_GRACE_PERIOD, so the container exits 0.
    reload: { signal: 'SIGUSR1' },
    stop: { signal: 'SIGWINCH' },
    fastStop: { signal: 'SIGTERM' },
    fastStopMs: FAST_STOP_MS,
    stopTimeoutMs: s.stopBudgetMs,
    // Port 80, not 443: before the first certificate apache serves HTTP only (ACME HTTP-01).
    readiness: { tcp: { port: s.httpPort }, intervalMs: 100 },
    healthIntervalMs: 10_000,
    startTimeoutMs: 30_000,
  };
}

/**
 * `node dist/main.js apache`: Debian's apache2, configured from the environment, serving
 * the certificates volume's newest generation. Every configuration change (start, SIGHUP,
 * a renewal) goes through a ConfigSet: `apache2 -t` on the staged set, one swap, a graceful
 * restart, and a TLS handshake that proves the new certificate is served.
 */
export class ApacheService extends DaemonService<ApacheEnv> {
  private settings!: ApacheSettings;

  override async validate(): Promise<boolean> {
    this.settings = apacheSettings(this.config, this.ctx.common);
    this.log.debug({ settings: this.settings }, 'settings derived');
    return true;
  }

  async configure(): Promise<boolean> {
    const s = this.settings;
    await this.ctx.files.ensureDir(s.runDir, { mode: 0o755 });
    this.configs = new ConfigSet(
      join(s.runDir, 'conf'),
      {
        render: (dir) => this.render(dir),
        check: (dir) => this.check(join(dir, 'httpd.conf')),
        reload: () => this.gracefulRestart(),
        confirm: () => this.answers(),
      },
      this.log,
      this.ctx.common.logConfigs,
    );
    if (this.ctx.dryRun) return this.dryRun();
    return true;
  }

  protected daemons(): ProcessSpec[] {
    return [apacheProcess(this.settings)];
  }

  /** Port 80 carries the ACME HTTP-01 challenges the first certificate needs: it cannot wait for one. */
  protected override startsWithoutCertificate(): boolean {
    return true;
  }

  protected override certificates(): DaemonCertificates {
    const s = this.settings;
    return {
      certPath: s.certPath,
      names: [s.domain],
      alsoNames: s.names,
      served: async () => (await this.probe().catch(() => undefined))?.fingerprint256,
    };
  }

  protected async serving(): Promise<HealthResult> {
    const { httpsPort, domain } = this.settings;
    return (await this.answers())
      ? { ok: true, reason: `HTTPS answers on ${httpsPort}` }
      : { ok: false, reason: `no HTTPS answer from 127.0.0.1:${httpsPort} for ${domain}` };
  }

  protected override async answering(): Promise<HealthResult> {
    const proc = this.ctx.supervisor.get('apache');
    if (!this.follower?.servedPair) {
      // HTTP only until the first certificate is confirmed served (while it is applied, too):
      // alive is answering on port 80.
      const { httpPort } = this.settings;
      return (await httpAnswers(httpPort, this.settings.domain))
        ? { ok: true, reason: `apache is running (HTTP only on ${httpPort}: no certificate yet)` }
        : { ok: false, reason: `apache (pid ${proc?.pid}) does not answer HTTP on ${httpPort} within 2 s` };
    }
    return (await this.answers(2_000))
      ? { ok: true, reason: 'apache is running' }
      : { ok: false, reason: `apache (pid ${proc?.pid}) does not answer HTTPS within 2 s` };
  }

  private render(dir: string) {
    const extra = this.settings.extraConf;
    return renderApache({
      dir,
      settings: this.settings,
      // None yet: port 80 only (ACME challenges, 503 for the rest) until one is published.
      tlsDir: this.pair?.dir,
      documentRoot: this.documentRoot(dir),
      extraConf: extra === undefined ? undefined : readFileSync(extra, 'utf8'),
    });
  }

  private documentRoot(dir: string): string {
    try {
      if (readdirSync(this.settings.webRoot).length > 0) return this.settings.webRoot;
    } catch {
      // Missing: the built-in page until it exists.
    }
    return `${dir}/default-site`;
  }

  /** `apache2 -t`: the daemon's own verdict, its first complaint as `file:line: message`. */
  private async check(configFile: string): Promise<CheckResult> {
    const result = await this.ctx.commands.run([APACHE, '-t', '-D', CHECK_SITE_DEFINE, '-f', configFile], {
      reject: false,
      timeoutMs: 20_000,
    });
    if (result.exitCode === 0) return { ok: true };
    return {
      ok: false,
      message: checkerMessage(`${result.stderr}\n${result.stdout}`, result.exitCode, dirname(configFile)),
    };
  }

  /**
   * SIGUSR1, then the proof that the restart went through: apache says "resuming normal
   * operations" (AH00489) once its new configuration is live, and exits instead when it cannot
   * apply it (a port taken, a module failing) even though `apache2 -t` passed. Until then the
   * old workers still answer, so an HTTPS answer alone would not tell.
   */
  private async gracefulRestart(): Promise<boolean> {
    const outcome = await reloadAndConfirm(this.ctx.supervisor.require('apache'), APACHE_RESUMED, RESTART_PROOF_MS);
    this.log.debug({ outcome }, 'graceful restart');
    if (outcome === 'refused') this.log.warn('apache was not reloaded: it is not running, or stopping');
    if (outcome === 'not confirmed')
      this.log.error(`apache did not confirm its graceful restart within ${RESTART_PROOF_MS} ms (or exited)`);
    return outcome === 'resumed';
  }

  private probe(timeoutMs = 2_000) {
    return tlsProbe({
      port: this.settings.httpsPort,
      servername: this.settings.domain,
      timeoutMs,
      alpn: ['http/1.1'],
      request: `HEAD / HTTP/1.1\r\nHost: ${this.settings.domain}\r\nUser-Agent: podserve-probe\r\nConnection: close\r\n\r\n`,
    });
  }

  /** An HTTP answer over TLS, whatever its status: apache is serving. */
  private async answers(timeoutMs = 2_000): Promise<boolean> {
    const result = await this.probe(timeoutMs).catch(() => undefined);
    return result?.firstLine?.startsWith('HTTP/') ?? false;
  }

  /** --dry-run: the rendered set and apache2 -t's verdict on it (with the certificate published now, if any). */
  private async dryRun(): Promise<boolean> {
    const { readCertificatePair } = await import('@podserve/runtime/tls');
    this.pair = await readCertificatePair(this.settings.certPath).catch(() => undefined);
    if (!this.pair) {
      this.log.warn(`dry run: no certificate in ${this.settings.certPath}; the TLS paths below are placeholders`);
      this.pair = { dir: `${this.settings.certPath}/current` } as CertificatePair;
    }
    return this.preview('apache2 -t', () => 'apache2 -t: Syntax OK');
  }
}

/**
 * apache2 -t says "AH00526: Syntax error on line 12 of /x/httpd.conf:" and the detail on the
 * next line; one log line wants "/x/httpd.conf:12: Invalid command 'Foo', …". The detail
 * quotes the offending line, so when the file is not one of ours (outside `ownDir`, the
 * config set's directory: an `Include /etc/shadow` in WEB_EXTRA_CONF) only file:line is kept:
 * the message goes to the log, readiness and the control API.
 */
export function checkerMessage(output: string, exitCode: number | null, ownDir: string): string {
  // An Include that fails chains every file on the way on one line ("… line 2 of /a: Syntax
  // error on line 1 of /b: …"): the last location is where apache stopped.
  const located = [...output.matchAll(/line (\d+) of ([^:\n]+):/g)].at(-1);
  if (located) {
    const [whole, line, file = ''] = located;
    const after = output.slice((located.index ?? 0) + whole.length);
    const detail = /^[ \t]*\n?[ \t]*(.*)/.exec(after)?.[1] ?? '';
    if (!isInside(ownDir, file)) {
      return `${file}:${line}: refused (not one of PodServe's configuration files, so its content is not shown)`;
    }
    return `${file}:${line}: ${detail}`;
  }
  return (
    output
      .split('\n')
      .map((l) => l.trim())
      .find(Boolean) ?? `apache2 -t exited ${exitCode}`
  );
}

/** Whether `file` (as apache names it, possibly relative to its ServerRoot-less cwd) is under `dir`. */
function isInside(dir: string, file: string): boolean {
  const rel = relative(resolve(dir), resolve(dir, file));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** An HTTP/1.1 status line from 127.0.0.1:port within 2 s (any status: apache answers). */
function httpAnswers(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () =>
      socket.write(`HEAD / HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: podserve-probe\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n')) done(text.startsWith('HTTP/'));
    });
    socket.on('end', () => done(text.startsWith('HTTP/')));
  });
}
