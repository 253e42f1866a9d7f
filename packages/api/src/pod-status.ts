import type { PodServiceStatus, PodStatus, StatusResponse } from '@podserve/protocol';
import type { Upstreams } from './upstream.js';

/** How long one pod status answers every caller (unless asked for fresh): 200 callers ask each service once. */
const SHARED_MS = 1_000;
const STATUS_TIMEOUT_MS = 5_000;

/**
 * The pod's status: every service's `GET /v1/status`, side by side. Callers at the same time
 * share one round, and its answer for a second, so a burst of callers costs each service one
 * status evaluation, not one per caller (each can be TLS handshakes and DNS queries).
 */
export class PodStatusCache {
  private shared: { promise: Promise<PodStatus>; settledAt: number | null } | null = null;

  constructor(private readonly upstreams: Upstreams) {}

  get(): Promise<PodStatus> {
    const s = this.shared;
    if (s && (s.settledAt === null || Date.now() - s.settledAt < SHARED_MS)) return s.promise;
    const entry: { promise: Promise<PodStatus>; settledAt: number | null } = { promise: this.round(), settledAt: null };
    this.shared = entry;
    const settled = () => {
      entry.settledAt = Date.now();
    };
    entry.promise.then(settled, settled);
    return entry.promise;
  }

  private async round(): Promise<PodStatus> {
    const services = await Promise.all(
      this.upstreams.services().map(async (service): Promise<PodServiceStatus> => {
        const answer = await this.upstreams.json<StatusResponse>(
          service,
          'GET',
          '/v1/status',
          undefined,
          STATUS_TIMEOUT_MS,
        );
        if (answer.ok) return { service, reachable: true, status: answer.value };
        return {
          service,
          reachable: answer.status !== 503 || answer.error.code !== 'unavailable',
          error: answer.error,
        };
      }),
    );
    return {
      ready: services.length > 0 && services.every((s) => s.status?.readiness.ok === true),
      services,
    };
  }
}
