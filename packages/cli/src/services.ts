import type { EnvSpec, ServiceDefinition } from '@podserve/runtime';

/**
 * The services this build knows. Each loads lazily so that `health` and `exec`
 * never pay for a service's dependencies (ACME, X.509) at start-up.
 */
export interface ServiceEntry {
  name: string;
  summary: string;
  load(): Promise<ServiceDefinition<EnvSpec>>;
}

export const services: readonly ServiceEntry[] = [];

export function findService(name: string): ServiceEntry | undefined {
  return services.find((s) => s.name === name);
}
