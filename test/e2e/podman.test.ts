/**
 * End to end in real podman: images built from this checkout, PID 1 inside a container,
 * probes run the way podman and Kubernetes run them, certificates shared through a real
 * volume that consumers mount read-only. Everything a test creates has a unique name and
 * is removed by the test; nothing else is touched.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { type PrivatePod, podApi, privatePod } from '../support/pod.js';
import { eventually, podman, podmanResult, uniqueSuffix } from '../support/podman.js';
import { repoRoot } from '../support/processes.js';

const execFileAsync = promisify(execFile);
const CERTS_IMAGE = 'localhost/podserve-certificates:latest';
const created = {
  containers: [] as string[],
  volumes: [] as string[],
  /** Private copies of pod.yaml: each removes its pod, volumes, secret and temp dir. */
  copies: [] as PrivatePod[],
};

// The images are built once for the whole run by test/global-setup.ts.

afterAll(async () => {
  // -v: also the anonymous volume the image's VOLUME instruction gave the container.
  for (const id of created.containers) await podmanResult(['rm', '-f', '-v', '-t', '0', id]);
  for (const copy of created.copies) await copy.remove();
  for (const v of created.volumes) await podmanResult(['volume', 'rm', '-f', v]);
}, 180_000);

/** `certificates --mode init` on a named certificates volume, removed when done. */
function initOnVolume(volume: string, domain = 'example.test'): string[] {
  return [
    'run',
    '--rm',
    '-e',
    `DOMAIN=${domain}`,
    '-v',
    `${volume}:/data/state/certificates`,
    CERTS_IMAGE,
    'certificates',
    '--mode',
    'init',
  ];
}

async function runDetached(args: string[]): Promise<string> {
  const id = (await podman(['run', '-d', ...args])).trim();
  created.containers.push(id);
  return id;
}

async function probe(id: string, kind: 'readiness' | 'liveness' = 'readiness') {
  return podmanResult(['exec', id, '/usr/local/bin/health-check.sh', kind]);
}

async function volumeFile(volume: string, path: string): Promise<string> {
  const mountpoint = (await podman(['volume', 'inspect', '--format', '{{.Mountpoint}}', volume])).trim();
  return join(mountpoint, path);
}

describe('exec as the init of any image', () => {
  it("spawns through the addon under Debian 13's Node: logs the child's output and exits with its code", async () => {
    const script = 'echo hello from the image; printf "last line without newline" >&2; exit 7';
    const result = await podmanResult(['run', '--rm', CERTS_IMAGE, 'exec', '--output=log', '--', 'sh', '-c', script]);
    expect(result.code).toBe(7);
    const lines = result.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { proc?: string; stream?: string; msg?: string });
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ proc: 'sh', stream: 'stdout', msg: 'hello from the image' }),
        expect.objectContaining({ proc: 'sh', stream: 'stderr', msg: 'last line without newline' }),
      ]),
    );
  });
});

describe('certificates image alone', () => {
  it('--mode init publishes a certificate and exits 0', async () => {
    const volume = `podserve-e2e-certs-${uniqueSuffix()}`;
    created.volumes.push(volume);
    const result = await podmanResult(initOnVolume(volume), 120_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('"msg":"certificates finished"');
    const cert = readFileSync(await volumeFile(volume, 'cert.pem'), 'utf8');
    expect(cert).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });

  it('runs as PID 1 in cron mode, passes its probes, and stops on SIGTERM in well under 2 s', async () => {
    const id = await runDetached(['-e', 'DOMAIN=example.test', CERTS_IMAGE, 'certificates']);
    // PID 1 is Node itself, with the image's heap bounds and gc (see images/base/Containerfile).
    expect((await podman(['exec', id, 'cat', '/proc/1/cmdline'])).split('\0').slice(0, 5)).toEqual([
      'node',
      '--max-old-space-size=128',
      '--max-semi-space-size=2',
      '--expose-gc',
      'dist/main.js',
    ]);
    await eventually(async () => (await probe(id)).code === 0, 30_000, 'readiness');
    const ready = await probe(id);
    expect(ready.stdout).toMatch(/^certificates: ready: certificate valid until /);
    expect((await probe(id, 'liveness')).code).toBe(0);
    // podman 4.3 on a host without systemd has no healthcheck timers: run the HEALTHCHECK by hand.
    expect((await podmanResult(['healthcheck', 'run', id])).code).toBe(0);

    const started = Date.now();
    await podman(['stop', '-t', '10', id]);
    const took = Date.now() - started;
    expect(took).toBeLessThan(2_000);
    expect((await podman(['inspect', '--format', '{{.State.ExitCode}}', id])).trim()).toBe('0');
    const logs = await podman(['logs', id]);
    expect(logs).toContain('SIGTERM: stopping certificates');
  });

  it('repairs a corrupted volume: the bad file is moved aside and a valid pair published', async () => {
    const volume = `podserve-e2e-certs-${uniqueSuffix()}`;
    created.volumes.push(volume);
    const init = initOnVolume(volume);
    expect((await podmanResult(init, 120_000)).code).toBe(0);
    const certFile = await volumeFile(volume, 'cert.pem');
    writeFileSync(certFile, '-----BEGIN CERTIFICATE-----\ntruncated');
    const repair = await podmanResult(init, 120_000);
    expect(repair.code, repair.stderr).toBe(0);
    expect(repair.stdout).toMatch(/moved aside to \/data\/state\/certificates\/quarantine\//);
    expect(readFileSync(certFile, 'utf8')).toMatch(/-----END CERTIFICATE-----\n$/);
  });

  it('refuses a bad DOMAIN with exit 78 and names it', async () => {
    const result = await podmanResult([
      'run',
      '--rm',
      '-e',
      'DOMAIN=bad domain!',
      CERTS_IMAGE,
      'certificates',
      '--mode',
      'init',
    ]);
    expect(result.code).toBe(78);
    expect(result.stdout).toContain('DOMAIN: expected a DNS name');
  });
});

describe('pod.yaml under podman play kube', () => {
  it('comes up ready; over the HTTPS API only: a renewal reaches every consumer, a mail user lives and dies (mail sent and read as it), a DNS record comes and goes; no container commands another', async () => {
    // A private copy of pod.yaml: unique pod, volume and secret names and free host ports, so a
    // user's pod is untouched.
    const copy = await privatePod();
    created.copies.push(copy);
    const { file, dir, name: pod, suffix } = copy;
    const port = (p: number) => copy.hostPort[p] as number;
    const [httpsPort, dnsPort, apiPort, submissionPort, imapsPort] = [
      port(443),
      port(53),
      port(8443),
      port(587),
      port(993),
    ];
    await podman(['play', 'kube', file], 180_000);
    const certs = `${pod}-certificates`;
    const web = `${pod}-apache`;
    const probeOf = (id: string, service: string) =>
      podmanResult(['exec', id, '/usr/local/bin/health-check.sh', 'readiness', service]);
    await eventually(async () => (await probeOf(certs, 'certificates')).code === 0, 60_000, 'certificates ready');
    await eventually(async () => (await probeOf(web, 'apache')).code === 0, 60_000, 'apache ready');
    await eventually(async () => (await probeOf(`${pod}-dns`, 'dns')).code === 0, 60_000, 'dns ready');
    await eventually(async () => (await probeOf(`${pod}-api`, 'api')).code === 0, 60_000, 'api ready');
    // The pod's zone on the published port, authoritative, over UDP and TCP.
    for (const transport of ['+notcp', '+tcp']) {
      const { stdout } = await execFileAsync('dig', [
        '@127.0.0.1',
        '-p',
        String(dnsPort),
        transport,
        '+norec',
        'podserve.test',
        'SOA',
      ]);
      expect(stdout).toMatch(/;; flags: qr aa;/);
    }
    // The TSIG key for DNS-01 is in the shared state volume, readable by the certificates container.
    expect((await podmanResult(['exec', certs, 'test', '-r', '/data/state/dns/tsig/acme-update.secret'])).code).toBe(0);

    // The consumer's mount is read-only, and the secret arrived through the Secret volume.
    const write = await podmanResult(['exec', web, 'touch', '/data/state/certificates/intruder']);
    expect(write.code).not.toBe(0);
    expect(write.stderr).toMatch(/Read-only file system/);
    expect((await podmanResult(['exec', certs, 'test', '-s', '/run/secrets/podserve/acme-tsig-secret'])).code).toBe(0);

    const served = async () => {
      const { stdout } = await execFileAsync('sh', [
        '-c',
        `echo | openssl s_client -connect 127.0.0.1:${httpsPort} -servername podserve.test 2>/dev/null | openssl x509 -noout -fingerprint -sha256`,
      ]);
      return stdout.trim();
    };
    const before = await served();
    expect(before).toMatch(/^sha256 Fingerprint=/i);
    // Each service's socket is in a run directory only it and the api container mount: from
    // the apache container there is no certificates socket to command.
    const fromWeb = await podmanResult([
      'exec',
      web,
      'node',
      'dist/main.js',
      'ctl',
      '--service',
      'certificates',
      'status',
    ]);
    expect(fromWeb.code).toBe(69);
    expect(fromWeb.stderr).toMatch(/nothing answers on \/run\/podserve\/certificates\.sock/);

    // The renewal through the pod's API over HTTPS, from the host, as scripts/pod.sh env sets ctl up.
    const mountpoint = (
      await podman(['volume', 'inspect', `podserve-certificates-${suffix}`, '--format', '{{.Mountpoint}}'])
    ).trim();
    const ctlEnv = {
      ...process.env,
      PODSERVE_API_URL: `https://127.0.0.1:${apiPort}`,
      PODSERVE_API_TOKEN_FILE: join(repoRoot, 'dev', 'api-admin.token'),
      PODSERVE_CA_FILE: join(mountpoint, 'ca.pem'),
      PODSERVE_API_SERVERNAME: 'podserve.test',
      PODSERVE_RUN_DIR: dir,
    };
    const ctl = (args: string[]) =>
      execFileAsync('node', [join(repoRoot, 'dist', 'main.js'), 'ctl', ...args], { env: ctlEnv }).then(
        (r) => ({ code: 0, ...r }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    await eventually(async () => (await ctl(['status'])).code === 0, 60_000, 'every service ready through the API');
    const renew = await ctl(['--json', 'renew']);
    expect(renew.code, renew.stderr).toBe(0);
    const generation = JSON.parse(renew.stdout).generation;
    await eventually(async () => (await served()) !== before, 10_000, 'apache to serve the renewed certificate');
    // Every consumer's served generation, read through the API.
    await eventually(
      async () => {
        const pod = JSON.parse((await ctl(['--json', 'status'])).stdout) as {
          services: Array<{ service: string; status?: { details: Record<string, unknown> } }>;
        };
        const servedBy = Object.fromEntries(pod.services.map((s) => [s.service, s.status?.details.servedGeneration]));
        return ['apache', 'mail', 'api'].every((s) => servedBy[s] === generation);
      },
      20_000,
      'apache, mail and the api serving the new generation',
    );
    // A mail user's life, over HTTPS only: created, its password set, mail sent on 587 as it
    // and read over IMAPS, then deleted (its login fails). A bad request changes nothing.
    const ca = readFileSync(join(mountpoint, 'ca.pem'), 'utf8');
    const api = podApi(apiPort, ca);
    const user = 'dave@podserve.test';
    const [first, second] = ['first password 0123', 'second password 4567'];
    const users = async () => (await api('GET', '/api/v1/mail/users')).json.result;
    const usersBefore = await users();
    const bad = await api('POST', '/api/v1/mail/users', { address: 'not an address', password: 'short' });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/address/);
    expect(bad.json.error.message).toMatch(/password/);
    expect(bad.json.error.message).not.toContain('short');
    expect(await users()).toEqual(usersBefore);
    expect((await api('POST', '/api/v1/mail/users', { address: user, password: first })).status).toBe(200);
    // Answered once dovecot sees it (its passwd-file is re-read at most once a second): a login
    // right after the answer works, the first time.
    const imapsNow = (password: string) =>
      execFileAsync('curl', [
        ...['-s', '--cacert', join(mountpoint, 'ca.pem'), '--resolve', `podserve.test:${imapsPort}:127.0.0.1`],
        ...['--user', `${user}:${password}`, `imaps://podserve.test:${imapsPort}/INBOX`, '-X', 'EXAMINE INBOX'],
      ]).then(
        () => 0,
        (e: { code: number }) => e.code,
      );
    expect(await imapsNow(first), 'a login right after the user was created').toBe(0);
    const set = await api('PUT', `/api/v1/mail/users/${encodeURIComponent(user)}/password`, { password: second });
    expect(set.status, JSON.stringify(set.json)).toBe(200);
    expect(await imapsNow(second), 'a login with the new password right after it was set').toBe(0);
    const sent = await execFileAsync('swaks', [
      ...['--server', `127.0.0.1:${submissionPort}`, '--tls', '--auth', 'PLAIN'],
      ...['--auth-user', user, '--auth-password', second, '--from', user, '--to', user],
      ...['--header', 'Subject: through the API', '--timeout', '20'],
    ]);
    expect(sent.stdout).toMatch(/<~ {2}250 2\.0\.0 Ok: queued as/);
    const imaps = (password: string, url: string, command: string) =>
      execFileAsync('curl', [
        ...['-s', '--cacert', join(mountpoint, 'ca.pem'), '--resolve', `podserve.test:${imapsPort}:127.0.0.1`],
        ...['--user', `${user}:${password}`, `imaps://podserve.test:${imapsPort}/${url}`, '-X', command],
      ]).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout ?? '' }),
      );
    await eventually(
      async () => /\* SEARCH \d/.test((await imaps(second, 'INBOX', 'SEARCH SUBJECT "through the API"')).stdout),
      20_000,
      'the message in the INBOX over IMAPS',
    );
    expect((await imaps(first, 'INBOX', 'EXAMINE INBOX')).code, 'the old password').not.toBe(0);
    const deleted = await api('DELETE', `/api/v1/mail/users/${encodeURIComponent(user)}`);
    expect(deleted.status, JSON.stringify(deleted.json)).toBe(200);
    await eventually(
      async () => (await imaps(second, 'INBOX', 'EXAMINE INBOX')).code !== 0,
      10_000,
      'the login refused',
    );

    // A DNS record added and removed through the API, answered by the pod's dns in between.
    const dig = async () =>
      (
        await execFileAsync('dig', ['@127.0.0.1', '-p', String(dnsPort), '+short', 'via-api.podserve.test', 'A'])
      ).stdout.trim();
    const added = await api('POST', '/api/v1/dns/records', { name: 'via-api', type: 'A', value: '192.0.2.77' });
    expect(added.status, JSON.stringify(added.json)).toBe(200);
    await eventually(async () => (await dig()) === '192.0.2.77', 10_000, 'the record answered');
    const removed = await api('DELETE', '/api/v1/dns/records', { name: 'via-api', type: 'A' });
    expect(removed.status, JSON.stringify(removed.json)).toBe(200);
    await eventually(async () => (await dig()) === '', 10_000, 'the record gone');

    const podLogs = (await podmanResult(['pod', 'logs', pod])).stdout;
    for (const name of ['admin', 'read']) {
      expect(podLogs).not.toContain(readFileSync(join(repoRoot, 'dev', `api-${name}.token`), 'utf8').trim());
    }
    for (const password of [first, second]) expect(podLogs).not.toContain(password);
    expect(podLogs).toMatch(/api audit: admin mail users-add address=dave@podserve\.test: ok/);

    await podman(['play', 'kube', '--down', file], 120_000);
    expect((await podmanResult(['pod', 'exists', pod])).code).not.toBe(0);
  }, 240_000);
});
