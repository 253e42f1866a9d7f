/**
 * Compares two V8 heap snapshots (the .heapsnapshot JSON that --heapsnapshot-signal writes):
 * live objects grouped by constructor (strings, arrays, code and the like by kind), and the
 * groups whose self size grew most from the first to the second. A leak shows at the top with
 * its count climbing; a flat heap shows a few kilobytes of noise.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Kinds whose name is the object's constructor; the rest are grouped by kind. */
const BY_NAME = new Set(['object', 'closure', 'native', 'regexp']);

function groups(path: string): Map<string, { count: number; bytes: number }> {
  const s = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const kinds = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const kind = kinds[s.nodes[i + typeAt] as number] ?? '?';
    const key = BY_NAME.has(kind) ? `${s.strings[s.nodes[i + nameAt] as number]} (${kind})` : `(${kind})`;
    const g = out.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += s.nodes[i + sizeAt] as number;
    out.set(key, g);
  }
  return out;
}

/** Lines for the `top` groups that grew most in bytes, then the totals. */
export function heapDiff(before: string, after: string, top: number): string[] {
  const a = groups(before);
  const b = groups(after);
  const keys = new Set([...a.keys(), ...b.keys()]);
  const rows = [...keys].map((key) => {
    const x = a.get(key) ?? { count: 0, bytes: 0 };
    const y = b.get(key) ?? { count: 0, bytes: 0 };
    return { key, dCount: y.count - x.count, dBytes: y.bytes - x.bytes, bytes: y.bytes };
  });
  rows.sort((p, q) => q.dBytes - p.dBytes);
  const kb = (n: number) => `${n >= 0 ? '+' : ''}${(n / 1024).toFixed(1)} KB`;
  const total = (m: Map<string, { count: number; bytes: number }>) => [...m.values()].reduce((t, g) => t + g.bytes, 0);
  return [
    ...rows
      .slice(0, top)
      .map(
        (r) =>
          `${kb(r.dBytes).padStart(11)}  ${String(r.dCount >= 0 ? `+${r.dCount}` : r.dCount).padStart(7)} objects  ${r.key}`,
      ),
    `total live heap ${(total(a) / 1024 / 1024).toFixed(2)} MB → ${(total(b) / 1024 / 1024).toFixed(2)} MB`,
  ];
}
