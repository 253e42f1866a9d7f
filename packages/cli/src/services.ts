import type { EnvSpec, ServiceDefinition } from '@podserve/runtime';
import registry from '../../../services.json' with { type: 'json' };

/**
 * In the bundle each service package is a separate file (dist/services/<name>.js) that uses
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
 * How to load each service package. esbuild needs the import specifiers written out; which
 * services exist, and what they are called, comes from services.json (a test checks that
 * every package it names is here).
 */
export const packageLoaders: Readonly<Record<string, () => Promise<Record<string, unknown>>>> = {
  '@podserve/certificates': () => import('@podserve/certificates'),
  '@podserve/apache': () => import('@podserve/apache'),
  '@podserve/dns': () => import('@podserve/dns'),
  '@podserve/mail': () => import('@podserve/mail'),
  '@podserve/api': () => import('@podserve/api'),
};

export interface RegistryEntry {
  name: string;
  summary: string;
  package: string;
  export: string;
  image: string;
  ports: Array<{ name: string; containerPort: number; protocol: string }>;
}

/** A service as the CLI knows it before loading it: `--help` stays light. */
export interface ServiceEntry extends RegistryEntry {
  load(): Promise<ServiceDefinition<EnvSpec>>;
}

export const services: readonly ServiceEntry[] = (registry.services as RegistryEntry[]).map((entry) => ({
  ...entry,
  async load() {
    const loader = packageLoaders[entry.package];
    if (!loader) throw new Error(`services.json names ${entry.package}, which this build cannot load`);
    const mod = await withRuntime(loader);
    return mod[entry.export] as ServiceDefinition<EnvSpec>;
  },
}));

export function findService(name: string): ServiceEntry | undefined {
  return services.find((s) => s.name === name);
}
