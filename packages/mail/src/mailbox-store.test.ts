import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { verify } from 'unixcrypt';
import * as v from 'valibot';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../test/support/memory-logger.js';
import { tempDir } from '../../../test/support/processes.js';
import { addressSchema } from './addresses.js';
import { txtStrings } from './dkim-publisher.js';
import { MailboxStore } from './mailbox-store.js';
import { netstring, readNetstring, SocketmapServer } from './socketmap-server.js';

let dir: ReturnType<typeof tempDir>;
beforeEach(() => {
  dir = tempDir('podserve-mail-unit-');
});
afterEach(() => dir.cleanup());

function store(postmaster?: string) {
  const paths = {
    users: join(dir.path, 'users.passwd'),
    aliases: join(dir.path, 'aliases.json'),
    lock: join(dir.path, '.users.lock'),
    mailboxes: join(dir.path, 'mailboxes'),
  };
  const s = new MailboxStore(paths, ['example.test'], postmaster, process.getgid?.() ?? 0, memoryLogger().logger);
  s.load();
  return { s, paths };
}

describe('MailboxStore', () => {
  it("writes dovecot's passwd-file with a SHA512-CRYPT hash that verifies, and refuses a domain it does not serve", async () => {
    const { s, paths } = store();
    await s.addUser('alice@example.test', 'alice password 12');
    const line = readFileSync(paths.users, 'utf8').trim();
    expect(line).toMatch(
      /^alice@example\.test:\{SHA512-CRYPT\}\$6\$rounds=20000\$[^:]+:5000:5000::.*\/mailboxes\/example\.test\/alice::$/,
    );
    expect(verify('alice password 12', line.split(':')[1]?.replace('{SHA512-CRYPT}', '') ?? '')).toBe(true);
    await expect(s.addUser('alice@example.test', 'another password')).rejects.toThrow('exists already');
    await expect(s.addUser('bob@other.test', 'bob password 123')).rejects.toThrow(
      'other.test is not one of this server',
    );
  });

  it('answers postfix: mailboxes, aliases, a catch-all that never takes a user’s mail, postmaster@ to the admin', async () => {
    const { s } = store('admin@example.test');
    await s.addUser('alice@example.test', 'alice password 12');
    await s.addAlias('sales@example.test', ['alice@example.test', 'bob@elsewhere.test']);
    expect(s.lookup('mailbox', 'alice@example.test')).toBe('example.test/alice/');
    expect(s.lookup('mailbox', 'ALICE@example.test')).toBe('example.test/alice/');
    expect(s.lookup('mailbox', 'nobody@example.test')).toBeUndefined();
    expect(s.lookup('alias', 'sales@example.test')).toBe('alice@example.test,bob@elsewhere.test');
    expect(s.lookup('alias', 'postmaster@example.test')).toBe('admin@example.test');
    expect(s.lookup('alias', 'abuse@example.test')).toBe('admin@example.test');
    expect(s.lookup('alias', 'someone@example.test')).toBeUndefined();
    await s.addAlias('@example.test', ['alice@example.test']);
    // With a catch-all, a user maps to itself first (postfix looks up the address before @domain).
    expect(s.lookup('alias', 'alice@example.test')).toBe('alice@example.test');
    expect(s.lookup('alias', '@example.test')).toBe('alice@example.test');
    expect(() => s.lookup('users', 'x')).toThrow('no map named "users"');
  });

  it('keeps a line it cannot read, and every change starts from what is on disk (another instance wrote it)', async () => {
    const { s, paths } = store();
    await s.addUser('alice@example.test', 'alice password 12');
    writeFileSync(paths.users, `${readFileSync(paths.users, 'utf8')}garbage-line\n`);
    await s.addUser('carol@example.test', 'carol password 12');
    const text = readFileSync(paths.users, 'utf8');
    expect(text).toContain('garbage-line');
    expect(text.match(/@example\.test:/g)).toHaveLength(2);
  });
});

describe('addresses', () => {
  it('normalises and checks an address, naming what is wrong', () => {
    expect(v.parse(addressSchema(), '  Alice.B+tag@Example.TEST ')).toBe('alice.b+tag@example.test');
    const problem = (a: string) => v.safeParse(addressSchema(), a).issues?.[0]?.message;
    expect(problem('alice')).toMatch(/has no @/);
    expect(problem('al:ice@example.test')).toMatch(/local part "al:ice"/);
    expect(problem('.alice@example.test')).toMatch(/no dot at either end/);
    expect(problem('@example.test')).toMatch(/nothing before the @/);
    expect(v.parse(addressSchema({ catchAll: true }), '@example.test')).toBe('@example.test');
  });
});

describe('socketmap', () => {
  it("speaks postfix's netstrings: OK value, NOTFOUND, and closes on a malformed request", async () => {
    const path = join(dir.path, 'maps');
    const server = new SocketmapServer(
      path,
      (map, key) => (map === 'mailbox' && key === 'a@x.test' ? 'x.test/a/' : undefined),
      memoryLogger().logger,
    );
    await server.listen(0o600);
    try {
      const ask = (bytes: Buffer) =>
        new Promise<string>((resolve) => {
          const socket = connect(path);
          let answer = '';
          socket.on('data', (d) => {
            answer += d.toString();
          });
          socket.on('close', () => resolve(answer));
          socket.write(bytes);
          setTimeout(() => socket.end(), 100);
        });
      expect(await ask(Buffer.concat([netstring('mailbox a@x.test'), netstring('mailbox b@x.test')]))).toBe(
        '12:OK x.test/a/,9:NOTFOUND ,',
      );
      expect(await ask(Buffer.from('99999999:x,'))).toBe('');
      expect(readNetstring(Buffer.from('3:abc,'))).toEqual({ data: 'abc', length: 6 });
      expect(readNetstring(Buffer.from('3:ab'))).toBe('incomplete');
      expect(readNetstring(Buffer.from('3:abcd'))).toBe('invalid');
    } finally {
      await server.close();
    }
  });

  it('splits a long TXT value into strings of at most 255 bytes', () => {
    const value = 'p='.padEnd(600, 'A');
    const strings = txtStrings(value).match(/"[^"]*"/g) ?? [];
    expect(strings.map((x) => x.length - 2)).toEqual([255, 255, 90]);
    expect(strings.map((x) => x.slice(1, -1)).join('')).toBe(value);
  });
});
