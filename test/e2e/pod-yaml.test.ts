import { readFileSync } from 'node:fs';
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

  it('mounts the certificates volume read-only in every consumer, with probes on every container', () => {
    const pod = new Pod(documents[1] as never);
    for (const c of pod.spec?.containers ?? []) {
      expect(c.readinessProbe?.exec?.command, c.name).toEqual(['/usr/local/bin/health-check.sh', 'readiness']);
      expect(c.livenessProbe?.exec?.command, c.name).toEqual(['/usr/local/bin/health-check.sh', 'liveness']);
      expect(c.resources?.limits?.memory, c.name).toBeDefined();
      const certs = c.volumeMounts?.find((m) => m.name === 'certificates');
      expect(certs?.readOnly ?? false, c.name).toBe(c.name !== 'certificates');
    }
  });
});
