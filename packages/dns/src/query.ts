import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { Packet } from 'dns2';

export interface DnsQuery {
  host: string;
  port: number;
  name: string;
  /** A dns2 type name: SOA, A, TXT, RRSIG, … */
  type: keyof typeof Packet.TYPE;
  transport: 'udp' | 'tcp';
  /** Sets EDNS's DO bit: the answer carries RRSIGs when the zone is signed. */
  dnssec?: boolean;
  /** RD: ask for recursion (a probe of our own zone does not). */
  recursive?: boolean;
  timeoutMs?: number;
}

export interface DnsAnswer {
  rcode: number;
  /** Authoritative answer: the server holds the zone itself. */
  aa: boolean;
  /** Record types in the answer section, e.g. ['SOA', 'RRSIG']. */
  answerTypes: string[];
  answers: Packet['answers'];
}

const TYPE_NAMES = new Map<number, string>(Object.entries(Packet.TYPE).map(([name, code]) => [code as number, name]));

/**
 * One DNS query with the packet encoding and parsing of `dns2`. Its own clients cannot set
 * the DNSSEC OK bit and always ask for recursion, and the probes need both under control,
 * so the two transports (a datagram; a length-prefixed TCP message) are the few lines here.
 */
export async function queryDns(q: DnsQuery): Promise<DnsAnswer> {
  const packet = new Packet();
  packet.header.id = Packet.uuid();
  packet.header.rd = q.recursive ? 1 : 0;
  // dns2's typings want a Question instance; its encoder takes the plain object it documents.
  packet.questions.push({
    name: q.name,
    type: Packet.TYPE[q.type],
    class: Packet.CLASS.IN,
  } as (typeof packet.questions)[number]);
  if (q.dnssec) packet.additionals.push(Packet.Resource.EDNS([], { doFlag: true }));
  const message = packet.toBuffer();
  const timeoutMs = q.timeoutMs ?? 1_000;
  const id = packet.header.id;
  const raw = q.transport === 'udp' ? await viaUdp(q, message, id, timeoutMs) : await viaTcp(q, message, timeoutMs);
  const response = Packet.parse(raw);
  if (response.header.id !== id) throw new Error('the answer is for another query (id mismatch)');
  // Truncated: the whole answer only comes over TCP.
  if (response.header.tc && q.transport === 'udp') return queryDns({ ...q, transport: 'tcp' });
  return {
    rcode: response.header.rcode,
    aa: response.header.aa === 1,
    answerTypes: response.answers.map((a) => TYPE_NAMES.get(a.type) ?? String(a.type)),
    answers: response.answers,
  };
}

/** The answer is the datagram from the server's address and port with the query's id; anything else is ignored. */
function viaUdp(q: DnsQuery, message: Buffer, id: number, timeoutMs: number): Promise<Buffer> {
  const socket = createSocket(q.host.includes(':') ? 'udp6' : 'udp4');
  return firstOutcome(
    `no UDP answer from ${q.host}:${q.port} within ${timeoutMs} ms`,
    timeoutMs,
    () => socket.close(),
    (finish) => {
      socket.on('error', (err) => finish(err));
      socket.on('message', (data, from) => {
        if (from.port === q.port && from.address === q.host && data.length >= 2 && data.readUInt16BE(0) === id) {
          finish(undefined, data);
        }
      });
      socket.send(message, q.port, q.host);
    },
  );
}

/** TCP: the message with its two-byte length in front, the answer likewise. */
function viaTcp(q: DnsQuery, message: Buffer, timeoutMs: number): Promise<Buffer> {
  const socket = connect({ host: q.host, port: q.port });
  let received = Buffer.alloc(0);
  return firstOutcome(
    `no TCP answer from ${q.host}:${q.port} within ${timeoutMs} ms`,
    timeoutMs,
    () => socket.destroy(),
    (finish) => {
      socket.on('error', (err) => finish(err));
      socket.on('data', (chunk) => {
        received = Buffer.concat([received, chunk]);
        if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
          finish(undefined, received.subarray(2, 2 + received.readUInt16BE(0)));
        }
      });
      socket.on('end', () => finish(new Error(`${q.host}:${q.port} closed the TCP connection without an answer`)));
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length);
      socket.write(Buffer.concat([length, message]));
    },
  );
}

/** The first answer or error, or a timeout; the socket is closed and the timer cleared whichever it is. */
function firstOutcome(
  timeoutMessage: string,
  timeoutMs: number,
  close: () => void,
  start: (finish: (err: Error | undefined, data?: Buffer) => void) => void,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: Error | undefined, data?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      close();
      if (err) reject(err);
      else resolve(data as Buffer);
    };
    const timer = setTimeout(() => finish(new Error(timeoutMessage)), timeoutMs);
    start(finish);
  });
}
