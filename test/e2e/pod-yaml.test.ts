import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pod, Secret } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../support/processes.js';

const documents = parseAllDocuments(readFileSync(join(repoRoot, 'pod.yaml'), 'utf8')).map(
  (d) => d.toJS() as { kind: string; [key: string]: unknown },
);

describe('pod.yaml', () => {
  it('is a valid Kubernetes v1 Secret and Pod (OpenAPI schema)', () => {
    expect(documents.map((d) => d.kind)).toEqual(['Secret', 'Pod']);
    expect(() => new Secret(documents[0] as never).validate()).not.toThrow();
    expect(() => new Pod(documents[1] as never).validate()).not.toThrow();
  });

  it('the schema check rejects a broken pod, so the test above can fail', () => {
    const broken = structuredClone(documents[1]) as unknown as { spec: { containers: Array<Record<string, unknown>> } };
    (broken.spec.containers[0] as Record<string, unknown>).image = 42;
    expect(() => new Pod(broken as never).validate()).toThrow(/image must be string/);
  });

  it('mounts the certificates volume read-only in every consumer that mounts it, with probes on every container', () => {
    const pod = new Pod(documents[1] as never);
    for (const c of pod.spec?.containers ?? []) {
      // Named: the api container sees every service's run directory, and health names one.
      expect(c.readinessProbe?.exec?.command, c.name).toEqual(['/usr/local/bin/health-check.sh', 'readiness', c.name]);
      expect(c.livenessProbe?.exec?.command, c.name).toEqual(['/usr/local/bin/health-check.sh', 'liveness', c.name]);
      expect(c.resources?.limits?.memory, c.name).toBeDefined();
      const certs = c.volumeMounts?.find((m) => m.name === 'certificates');
      if (certs) expect(certs.readOnly ?? false, c.name).toBe(c.name !== 'certificates');
    }
  });
});

describe('pod.yaml: who may command whom', () => {
  const pod = new Pod(documents[1] as never);
  const containers = pod.spec?.containers ?? [];

  it('gives each service a run directory of its own, shared only with the api container (under /run/podserve-control/NAME)', () => {
    const services = containers.filter((c) => c.name !== 'api').map((c) => c.name);
    const api = containers.find((c) => c.name === 'api');
    expect(api).toBeDefined();
    for (const service of services) {
      const volume = `run-${service}`;
      const mountedBy = containers.filter((c) => c.volumeMounts?.some((m) => m.name === volume)).map((c) => c.name);
      expect(mountedBy.sort(), volume).toEqual(['api', service].sort());
      const own = containers.find((c) => c.name === service)?.volumeMounts?.find((m) => m.name === volume);
      expect(own?.mountPath).toBe('/run/podserve');
      expect(api?.volumeMounts?.find((m) => m.name === volume)?.mountPath).toBe(`/run/podserve-control/${service}`);
      expect(pod.spec?.volumes?.find((v) => v.name === volume)?.emptyDir, volume).toBeDefined();
    }
    // No volume shared by two services' containers holds a run directory.
    for (const c of containers) {
      for (const m of c.volumeMounts ?? []) {
        if (m.mountPath?.startsWith('/run/podserve') && c.name !== 'api') expect(m.name, c.name).toBe(`run-${c.name}`);
      }
    }
  });

  it('holds the development API tokens only as hashes, and publishes the API on the host loopback only', async () => {
    const { parseTokens, tokenLine } = await import('../../packages/api/src/tokens.js');
    const secret = documents[0] as unknown as { data: Record<string, string> };
    const file = Buffer.from(secret.data['api-tokens'] as string, 'base64').toString('utf8');
    const entries = parseTokens(file, 'api-tokens');
    expect(entries.map((e) => [e.name, e.scope])).toEqual([
      ['admin', 'admin'],
      ['read', 'read'],
    ]);
    for (const [name, scope] of [
      ['admin', 'admin'],
      ['read', 'read'],
    ] as const) {
      const token = readFileSync(join(repoRoot, 'dev', `api-${name}.token`), 'utf8').trim();
      expect(file).not.toContain(token);
      expect(file).toContain(tokenLine(name, scope, token));
    }
    const port = containers.find((c) => c.name === 'api')?.ports?.[0];
    expect(port).toMatchObject({ containerPort: 8443, hostIP: '127.0.0.1' });
  });
});

describe('pod.yaml against the service registry (services.json)', () => {
  const registry = JSON.parse(readFileSync(join(repoRoot, 'services.json'), 'utf8')) as {
    services: Array<{ name: string; image: string; ports: Array<{ name: string; containerPort: number }> }>;
  };
  const pod = new Pod(documents[1] as never);

  it('runs each container as a registered service, from that service’s image, with its ports', () => {
    for (const c of pod.spec?.containers ?? []) {
      const service = registry.services.find((s) => s.name === c.args?.[0]);
      expect(service, `${c.name} runs ${c.args?.[0]}`).toBeDefined();
      expect(c.name).toBe(service?.name);
      expect(c.image).toBe(`localhost/podserve-${service?.image}:latest`);
      expect((c.ports ?? []).map((p) => ({ name: p.name, containerPort: p.containerPort }))).toEqual(
        service?.ports.map((p) => ({ name: p.name, containerPort: p.containerPort })),
      );
    }
  });

  it('has every port unique across the pod (one network namespace), the ACME responder and rndc included', () => {
    const env = (name: string) =>
      (pod.spec?.containers ?? []).flatMap((c) => (c.env ?? []).filter((e) => e.name === name).map((e) => e.value));
    // DNS has 53/UDP and 53/TCP: a port is its number and protocol.
    const ports = (pod.spec?.containers ?? []).flatMap((c) =>
      (c.ports ?? []).map((p) => `${p.containerPort}/${p.protocol ?? 'TCP'}`),
    );
    const acme = new Set(env('ACME_HTTP_PORT'));
    expect(acme.size, 'certificates and apache agree on ACME_HTTP_PORT').toBe(1);
    // The loopback-only ports each service opens besides its published ones (their defaults unless set).
    const internal = [...acme, env('DNS_RNDC_PORT')[0] ?? '953', env('MAIL_MILTER_PORT')[0] ?? '8891'].map(
      (p) => `${p}/TCP`,
    );
    const all = [...ports, ...internal];
    expect(new Set(all).size, all.join(' ')).toBe(all.length);
  });

  it("gives every container the pod's grace period as STOP_GRACE_PERIOD, so each plans its stop inside it", () => {
    const grace = pod.spec?.terminationGracePeriodSeconds;
    expect(grace).toBeGreaterThanOrEqual(3);
    for (const c of pod.spec?.containers ?? []) {
      expect(c.env?.find((e) => e.name === 'STOP_GRACE_PERIOD')?.value, c.name).toBe(String(grace));
    }
  });

  it('names a Containerfile for every image of the registry', () => {
    for (const s of registry.services) {
      expect(existsSync(join(repoRoot, 'images', s.image, 'Containerfile')), s.image).toBe(true);
    }
  });
});
