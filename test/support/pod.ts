/**
 * A private copy of pod.yaml for one test: a unique pod, volume and secret names and free host
 * ports, so the user's pod (and the other tests') are untouched, and a cleanup that removes only
 * what this copy created (podman 4.3's play kube --down leaves the secrets it made from the YAML,
 * and a volume named after each secret it mounted).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { freePort } from './pebble.js';
import { podman, podmanResult, uniqueSuffix } from './podman.js';
import { repoRoot } from './processes.js';

export interface KubeContainer {
  name: string;
  env?: Array<{ name: string; value?: string }>;
  ports?: Array<{ containerPort: number; hostPort?: number; protocol?: string }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
  [key: string]: unknown;
}
export interface KubePod {
  metadata: { name: string };
  spec: { containers: KubeContainer[]; volumes: Array<Record<string, any>>; [key: string]: unknown };
}

export interface PrivatePod {
  /** The YAML file (alone in a temp dir of its own). */
  file: string;
  dir: string;
  name: string;
  suffix: string;
  /** Host port of each published container port (`80`, `443`, `53`, `25`, `587`, `465`, `143`, `993`, `8443`). */
  hostPort: Record<number, number>;
  volumes: { certificates: string; logs: string; state: string };
  secret: string;
  /** `NAME-CONTAINER`: podman's name for a play-kube container. */
  container(service: string): string;
  /** A volume's mountpoint on the host. */
  mountpoint(volume: keyof PrivatePod['volumes']): Promise<string>;
  /** play kube --down, then the volumes, the secret and the temp dir. */
  remove(): Promise<void>;
}

/** One container's env value set (replaced or added). */
export function setEnv(container: KubeContainer, name: string, value: string): void {
  container.env ??= [];
  const entry = container.env.find((e) => e.name === name);
  if (entry) entry.value = value;
  else container.env.push({ name, value });
}

/**
 * Writes the private copy. `change` may edit the parsed pod (env, mounts, extra volumes)
 * before it is written: everything else is pod.yaml as users get it.
 */
export async function privatePod(change?: (pod: KubePod) => void): Promise<PrivatePod> {
  const suffix = uniqueSuffix();
  const dir = mkdtempSync(join(tmpdir(), 'podserve-pod-'));
  const file = join(dir, 'pod.yaml');
  const name = `podserve-e2e-${suffix}`;
  const secret = `podserve-secrets-${suffix}`;
  const volumes = {
    certificates: `podserve-certificates-${suffix}`,
    logs: `podserve-logs-${suffix}`,
    state: `podserve-state-${suffix}`,
  };
  const docs = parseAllDocuments(readFileSync(join(repoRoot, 'pod.yaml'), 'utf8')).map((d) => d.toJS());
  const hostPort: Record<number, number> = {};
  const emptyDirs: string[] = [];
  for (const doc of docs) {
    if (doc.kind === 'Secret') doc.metadata.name = secret;
    if (doc.kind !== 'Pod') continue;
    const pod = doc as KubePod;
    pod.metadata.name = name;
    for (const c of pod.spec.containers) {
      for (const p of c.ports ?? []) {
        // UDP and TCP 53 share one host port, as users publish DNS.
        if (p.hostPort === undefined) continue;
        hostPort[p.containerPort] ??= await freePort();
        p.hostPort = hostPort[p.containerPort];
      }
      // No recursion in tests: a resolver would prime from the root servers, off this machine.
      if (c.name === 'dns') setEnv(c, 'DNS_RECURSION_CLIENTS', 'none');
    }
    for (const v of pod.spec.volumes) {
      // podman 4.3 plays an emptyDir as a named volume called after it, which every pod played
      // from pod.yaml would share (another pod's control sockets in ours): one of our own.
      if (v.emptyDir) {
        const unique = `${v.name}-${suffix}`;
        for (const c of pod.spec.containers)
          for (const m of c.volumeMounts ?? []) if (m.name === v.name) m.name = unique;
        v.name = unique;
        emptyDirs.push(unique);
      }
      if (v.persistentVolumeClaim) {
        const claim = v.persistentVolumeClaim.claimName as string;
        v.persistentVolumeClaim.claimName = `${claim}-${suffix}`;
      }
      if (v.secret) v.secret.secretName = secret;
    }
    change?.(pod);
  }
  writeFileSync(file, docs.map((d) => stringify(d)).join('---\n'));
  return {
    file,
    dir,
    name,
    suffix,
    hostPort,
    volumes,
    secret,
    container: (service) => `${name}-${service}`,
    mountpoint: async (volume) =>
      (await podman(['volume', 'inspect', volumes[volume], '--format', '{{.Mountpoint}}'])).trim(),
    async remove() {
      await podmanResult(['play', 'kube', '--down', file], 120_000);
      await podmanResult(['pod', 'rm', '-f', name]);
      for (const v of [...Object.values(volumes), ...emptyDirs]) await podmanResult(['volume', 'rm', '-f', v]);
      await podmanResult(['secret', 'rm', secret]);
      await podmanResult(['volume', 'rm', '-f', secret]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The pod's API over HTTPS as the development admin token, its certificate checked against `ca`. */
export function podApi(
  port: number,
  ca: string,
  token = readFileSync(join(repoRoot, 'dev', 'api-admin.token'), 'utf8').trim(),
) {
  return (method: string, path: string, body?: object) =>
    new Promise<{ status: number; json: any }>((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port,
          servername: 'podserve.test',
          ca,
          method,
          path,
          timeout: 30_000,
          headers: {
            authorization: `Bearer ${token}`,
            // Spelled out: node sends a DELETE's body neither chunked nor with a length otherwise.
            ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            let json: any;
            try {
              json = JSON.parse(text);
            } catch {
              json = { text };
            }
            resolve({ status: res.statusCode ?? 0, json });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
      req.on('error', reject);
      req.end(payload);
    });
}
