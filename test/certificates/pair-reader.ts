// A consumer process for the pair-consistency test: reads the published pair in a loop until
// the deadline and prints one JSON line with its counts. Two ways, both must never mismatch:
// readCertificatePair (resolve `current` once) and combined.pem (one file).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readCertificatePair } from '@podserve/certificates';

const [certPath = '', durationMs = '3000'] = process.argv.slice(2);
const deadline = Date.now() + Number(durationMs);
const counts = { pairReads: 0, combinedReads: 0, mismatches: 0, errors: 0, generations: new Set<string>() };
const firstErrors: string[] = [];

while (Date.now() < deadline) {
  try {
    const pair = await readCertificatePair(certPath); // throws on a mismatch
    counts.pairReads++;
    counts.generations.add(pair.generation);
  } catch (err) {
    const msg = (err as Error).message;
    if (/does not match/.test(msg)) counts.mismatches++;
    else counts.errors++;
    if (firstErrors.length < 3) firstErrors.push(msg);
  }
  try {
    const combined = await readFile(join(certPath, 'combined.pem'), 'utf8');
    const key = createPrivateKey(combined);
    const cert = new X509Certificate(combined.slice(combined.indexOf('-----BEGIN CERTIFICATE-----')));
    counts.combinedReads++;
    if (!cert.checkPrivateKey(key)) counts.mismatches++;
  } catch (err) {
    counts.errors++;
    if (firstErrors.length < 3) firstErrors.push((err as Error).message);
  }
}
process.stdout.write(`${JSON.stringify({ ...counts, generations: counts.generations.size, firstErrors })}\n`);
