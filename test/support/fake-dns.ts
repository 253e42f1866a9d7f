/**
 * A tiny authoritative-for-everything DNS responder for tests (node:dgram only).
 *
 * Its only purpose is to make pebble's VA (`pebble -dnsserver 127.0.0.1:PORT`) resolve
 * test names such as `example.test` to 127.0.0.1, so HTTP-01 / TLS-ALPN-01 validation connects
 * to a challenge server on this machine. It also serves TXT records set by the test, for DNS-01.
 *
 *  - A     -> `ipv4` (default 127.0.0.1) for every name, or a per-name override from `setA`
 *  - AAAA  -> NOERROR with no answer (pebble asks AAAA before A; an empty answer makes it use A)
 *  - TXT   -> the values set with `setTxt` (NOERROR, empty when none)
 *  - other -> NOERROR with no answer (e.g. CAA: "no CAA record" = issuance allowed)
 *
 * UDP only, one question per message, no EDNS in replies. Never use outside tests.
 */
import dgram from 'node:dgram';

export interface FakeDns {
  /** `127.0.0.1:PORT`, ready for `pebble -dnsserver`. */
  readonly address: string;
  readonly port: number;
  /** Override the A answer for one name (case-insensitive, trailing dot optional). */
  setA(name: string, ipv4: string): void;
  /** Set the TXT answers for one name, e.g. `_acme-challenge.example.test`. */
  setTxt(name: string, values: string[]): void;
  /** Add one TXT value (a wildcard and its base name share `_acme-challenge.<base>`: use add/remove). */
  addTxt(name: string, value: string): void;
  /** Remove one TXT value added with addTxt/setTxt. */
  removeTxt(name: string, value: string): void;
  clearTxt(name: string): void;
  /** Every question received, as `TYPE name` (e.g. `A example.test`), oldest first. */
  readonly queries: string[];
  close(): Promise<void>;
}

export interface FakeDnsOptions {
  /** Answer for every A query without an override. Default 127.0.0.1. */
  ipv4?: string;
  /** UDP port on 127.0.0.1; default 0 (ephemeral, chosen by the kernel). */
  port?: number;
}

const TYPE_A = 1;
const TYPE_TXT = 16;
const TYPE_AAAA = 28;
const TYPE_NAMES: Record<number, string> = {
  1: 'A',
  2: 'NS',
  5: 'CNAME',
  6: 'SOA',
  15: 'MX',
  16: 'TXT',
  28: 'AAAA',
  257: 'CAA',
};
const RCODE_FORMERR = 1;
const RCODE_NOTIMP = 4;

function normalize(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function ipv4Bytes(ip: string): Buffer {
  const parts = ip.split('.').map((p) => Number(p));
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`fake-dns: not an IPv4 address: ${ip}`);
  }
  return Buffer.from(parts);
}

/** Parses the question name starting at `offset`; returns the name and the offset after it. */
function readName(msg: Buffer, offset: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let pos = offset;
  for (let guard = 0; guard < 128; guard++) {
    const len = msg[pos];
    if (len === undefined) return undefined;
    if (len === 0) return { name: labels.join('.'), end: pos + 1 };
    if ((len & 0xc0) !== 0) return undefined; // no compression expected in a question
    if (pos + 1 + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return undefined;
}

function txtRdata(values: string[]): Buffer {
  const chunks: Buffer[] = [];
  for (const value of values) {
    const bytes = Buffer.from(value, 'utf8');
    // A TXT record is a sequence of <=255-byte character-strings.
    for (let i = 0; i === 0 || i < bytes.length; i += 255) {
      const part = bytes.subarray(i, i + 255);
      chunks.push(Buffer.from([part.length]), part);
    }
  }
  return Buffer.concat(chunks);
}

function answerRecord(type: number, rdata: Buffer, ttl = 0): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0); // pointer to the question name at offset 12
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4); // class IN
  head.writeUInt32BE(ttl, 6);
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

export async function startFakeDns(opts: FakeDnsOptions = {}): Promise<FakeDns> {
  const defaultA = ipv4Bytes(opts.ipv4 ?? '127.0.0.1');
  const aOverrides = new Map<string, Buffer>();
  const txt = new Map<string, string[]>();
  const queries: string[] = [];

  const reply = (query: Buffer): Buffer | undefined => {
    if (query.length < 12) return undefined;
    const id = query.readUInt16BE(0);
    const flags = query.readUInt16BE(2);
    if ((flags & 0x8000) !== 0) return undefined; // a response, not a query
    const opcode = (flags >> 11) & 0x0f;
    const rd = flags & 0x0100;
    const qdcount = query.readUInt16BE(4);

    const header = (rcode: number, ancount: number, qd: number): Buffer => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(id, 0);
      // QR=1, same opcode, AA=1, RD copied, RA=1
      h.writeUInt16BE(0x8000 | (opcode << 11) | 0x0400 | rd | 0x0080 | rcode, 2);
      h.writeUInt16BE(qd, 4);
      h.writeUInt16BE(ancount, 6);
      return h;
    };

    if (opcode !== 0) return header(RCODE_NOTIMP, 0, 0);
    if (qdcount !== 1) return header(RCODE_FORMERR, 0, 0);
    const parsed = readName(query, 12);
    if (!parsed || parsed.end + 4 > query.length) return header(RCODE_FORMERR, 0, 0);
    const qtype = query.readUInt16BE(parsed.end);
    const question = query.subarray(12, parsed.end + 4);
    const name = normalize(parsed.name);
    queries.push(`${TYPE_NAMES[qtype] ?? `TYPE${qtype}`} ${name}`);

    const answers: Buffer[] = [];
    if (qtype === TYPE_A) {
      answers.push(answerRecord(TYPE_A, aOverrides.get(name) ?? defaultA));
    } else if (qtype === TYPE_TXT) {
      for (const value of txt.get(name) ?? []) answers.push(answerRecord(TYPE_TXT, txtRdata([value])));
    } else if (qtype === TYPE_AAAA) {
      // deliberately empty: IPv4 only
    }
    return Buffer.concat([header(0, answers.length, 1), question, ...answers]);
  };

  const socket = dgram.createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    let out: Buffer | undefined;
    try {
      out = reply(msg);
    } catch {
      out = undefined;
    }
    if (out) socket.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port ?? 0, '127.0.0.1', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  // Errors after bind (e.g. ICMP port unreachable on send) must not crash the test process.
  socket.on('error', () => {});
  // Do not keep the event loop alive just for this socket.
  socket.unref();

  const port = socket.address().port;
  let closed = false;
  return {
    address: `127.0.0.1:${port}`,
    port,
    queries,
    setA(name, ipv4) {
      aOverrides.set(normalize(name), ipv4Bytes(ipv4));
    },
    setTxt(name, values) {
      txt.set(normalize(name), [...values]);
    },
    addTxt(name, value) {
      const key = normalize(name);
      txt.set(key, [...(txt.get(key) ?? []), value]);
    },
    removeTxt(name, value) {
      const key = normalize(name);
      const rest = (txt.get(key) ?? []).filter((v) => v !== value);
      if (rest.length > 0) txt.set(key, rest);
      else txt.delete(key);
    },
    clearTxt(name) {
      txt.delete(normalize(name));
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => socket.close(() => resolve()));
    },
  };
}
