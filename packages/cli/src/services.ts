import type { EnvSpec, ServiceDefinition } from '@podserve/runtime';

/**
 * In the bundle each service is a separate file (dist/services/<name>.js) that uses
 * this process's runtime instead of carrying a copy: one logger, supervisor and signal
 * queue. From source (tsx, tests) the global is simply unused.
 */
async function withRuntime<T>(load: () => Promise<T>): Promise<T> {
  const key = Symbol.for('podserve.runtime');
  const g = globalThis as { [key]?: unknown };
  g[key] ??= await import('@podserve/runtime');
  return load();
}

/**
 * The services this build knows. Each loads lazily so that `health` and `exec`
 * never pay for a service's dependencies (ACME, X.509) at start-up.
 */
export interface ServiceEntry {
  name: string;
  summary: string;
  load(): Promise<ServiceDefinition<EnvSpec>>;
}

export const services: readonly ServiceEntry[] = [
  {
    name: 'certificates',
    summary: 'issue (self-signed or ACME), renew and atomically publish TLS certificates into CERT_PATH',
    load: () =>
      withRuntime(() => import('@podserve/certificates')).then(
        (m) => m.certificatesService as ServiceDefinition<EnvSpec>,
      ),
  },
  {
    name: 'cert-watch',
    summary: 'read the published certificate pair and follow each renewal (a certificates-volume consumer)',
    load: () =>
      withRuntime(() => import('@podserve/certificates')).then((m) => m.certWatchService as ServiceDefinition<EnvSpec>),
  },
];

export function findService(name: string): ServiceEntry | undefined {
  return services.find((s) => s.name === name);
}
