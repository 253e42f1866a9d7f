import type { Socket } from 'node:net';

/** The plain-text protocols whose STARTTLS a probe speaks (RFC 3207, RFC 3501 §6.2.1). */
export type StartTlsProtocol = 'smtp' | 'imap';

/**
 * Reads a plain-text server's lines as they come. Replies are small, and the caller's timer
 * bounds the wait; a server that sends more than MAX_BYTES without a line end is refused.
 */
export class LineReader {
  private buffer = '';
  private waiting: ((line: string) => void) | null = null;
  private readonly lines: string[] = [];
  private failure: Error | null = null;
  private failWaiter: ((err: Error) => void) | null = null;

  constructor(private readonly socket: Socket) {
    // Buffers decoded here, not setEncoding(): the socket may be handed to TLS afterwards.
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
  }

  private readonly onEnd = () => this.fail(new Error('the server closed the connection'));
  private readonly onError = (err: Error) => this.fail(err);

  private readonly onData = (chunk: Buffer) => {
    this.buffer += chunk.toString('latin1');
    if (this.buffer.length > MAX_BYTES) return this.fail(new Error(`more than ${MAX_BYTES} bytes without a line end`));
    for (let eol = this.buffer.indexOf('\n'); eol >= 0; eol = this.buffer.indexOf('\n')) {
      this.lines.push(this.buffer.slice(0, eol).replace(/\r$/, ''));
      this.buffer = this.buffer.slice(eol + 1);
    }
    this.deliver();
  };

  private fail(err: Error): void {
    this.failure ??= err;
    const waiter = this.failWaiter;
    this.waiting = this.failWaiter = null;
    waiter?.(err);
  }

  private deliver(): void {
    if (this.waiting && this.lines.length > 0) {
      const waiter = this.waiting;
      this.waiting = this.failWaiter = null;
      waiter(this.lines.shift() as string);
    }
  }

  next(): Promise<string> {
    if (this.lines.length > 0) return Promise.resolve(this.lines.shift() as string);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiter = reject;
    });
  }

  /** What came after the last line end (a server that closed mid-line). */
  rest(): string {
    return this.buffer;
  }

  /** Stops reading: the TLS layer takes the socket over (nothing may be buffered by then). */
  detach(): void {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('error', this.onError);
    if (this.buffer !== '' || this.lines.length > 0) throw new Error('the server sent data before the TLS handshake');
  }

  write(line: string): void {
    this.socket.write(`${line}\r\n`);
  }
}

const MAX_BYTES = 16_384;

/** An SMTP reply (RFC 5321 §4.2): `250-…` lines, then `250 …`; its code and every line. */
export async function smtpReply(reader: LineReader): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  for (;;) {
    const line = await reader.next();
    lines.push(line);
    if (!/^\d{3}[ -]/.test(line) && !/^\d{3}$/.test(line))
      throw new Error(`not an SMTP reply: ${JSON.stringify(line.slice(0, 80))}`);
    if (line[3] !== '-') return { code: Number(line.slice(0, 3)), lines };
  }
}

/**
 * Speaks the protocol up to the point where TLS starts: the greeting, the capability that
 * says STARTTLS is offered, and the command. Returns the greeting's first line (the banner
 * a readiness probe wants to see). Throws, saying what the server answered, otherwise.
 */
export async function negotiateStartTls(socket: Socket, protocol: StartTlsProtocol): Promise<string> {
  const reader = new LineReader(socket);
  let banner: string;
  if (protocol === 'smtp') {
    const greeting = await smtpReply(reader);
    banner = greeting.lines[0] ?? '';
    if (greeting.code !== 220) throw new Error(`SMTP greeting was not 220: ${banner}`);
    reader.write('EHLO podserve-probe');
    const ehlo = await smtpReply(reader);
    if (ehlo.code !== 250) throw new Error(`EHLO answered ${ehlo.lines.join(' | ')}`);
    if (!ehlo.lines.some((l) => /^250[ -]STARTTLS\b/i.test(l)))
      throw new Error('the server does not offer STARTTLS after EHLO');
    reader.write('STARTTLS');
    const ready = await smtpReply(reader);
    if (ready.code !== 220) throw new Error(`STARTTLS answered ${ready.lines.join(' | ')}`);
  } else {
    banner = await reader.next();
    if (!/^\* OK\b/i.test(banner)) throw new Error(`IMAP greeting was not "* OK": ${banner.slice(0, 120)}`);
    reader.write('p1 CAPABILITY');
    let capabilities = '';
    for (let line = await reader.next(); !line.startsWith('p1 '); line = await reader.next()) {
      if (/^\* CAPABILITY /i.test(line)) capabilities = line;
    }
    if (!/\bSTARTTLS\b/i.test(capabilities)) throw new Error('the server does not offer STARTTLS in its CAPABILITY');
    reader.write('p2 STARTTLS');
    let done = await reader.next();
    while (done.startsWith('* ')) done = await reader.next();
    if (!/^p2 OK\b/i.test(done)) throw new Error(`STARTTLS answered ${done.slice(0, 120)}`);
  }
  reader.detach();
  return banner;
}
