import { BadRequest, type CommandRunner, type ServiceAction, Unavailable } from '@podserve/runtime';
import * as v from 'valibot';
import { addressSchema } from './addresses.js';
import type { MailboxStore } from './mailbox-store.js';
import type { MailSettings } from './settings.js';

interface Parts {
  store(): MailboxStore | undefined;
  commands: CommandRunner;
  settings(): MailSettings;
  dkimRecord(): string | undefined;
}

/** At least 12 characters; any characters (it is hashed), none that cannot be typed. */
const password = v.pipe(
  v.string(),
  v.minLength(12, 'at least 12 characters'),
  v.maxLength(1024, 'at most 1024 characters'),
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  v.regex(/^[^\u0000-\u001f\u007f]*$/, 'no control characters (a new line, a tab)'),
);
const targets = v.pipe(
  v.union([v.string(), v.array(v.string())]),
  v.transform((t) => (Array.isArray(t) ? t : t.split(/[\s,]+/).filter((x) => x !== ''))),
  v.minLength(1, 'at least one target address'),
  v.array(addressSchema()),
);
/** A postfix queue id: hex (short ids) or the long form's letters and digits; never a path or an option. */
const queueId = v.pipe(v.string(), v.regex(/^[0-9A-Za-z]{6,20}$/, 'a queue id as `queue` lists it'), v.maxLength(20));

/** What the actions answer, as schemas: listed with each action for the API's OpenAPI document. */
const user = v.object({ address: v.string(), home: v.string() });
const alias = v.object({ source: v.string(), targets: v.array(v.string()) });

/** The mail service's control actions: users, aliases, the queue, and the DKIM record. */
export function mailActions(parts: Parts): Record<string, ServiceAction<never>> {
  const store = () => {
    const s = parts.store();
    if (!s) throw new Unavailable('the mail service is not started yet: try again once it is ready');
    return s;
  };
  const postqueue = async (args: string[]) => {
    const { paths } = parts.settings();
    const result = await parts.commands.run(['postqueue', '-c', `${paths.postfixConf}/current`, ...args], {
      reject: false,
      timeoutMs: 30_000,
    });
    if (result.exitCode !== 0)
      throw new Error(`postqueue ${args.join(' ')}: ${result.stderr.trim() || `exit ${result.exitCode}`}`);
    return result.stdout;
  };
  const actions = {
    users: {
      readOnly: true,
      summary: 'list the users (address and mailbox)',
      output: v.array(user),
      run: async () => store().listUsers(),
    },
    'users-add': {
      summary: 'add a user: ADDRESS, the password with --password-stdin',
      output: user,
      input: v.strictObject({ address: addressSchema(), password }),
      secrets: ['password'],
      run: async (i: { address: string; password: string }) => store().addUser(i.address, i.password),
    },
    'users-set-password': {
      summary: "change a user's password: ADDRESS, the password with --password-stdin",
      output: v.object({ address: v.string() }),
      input: v.strictObject({ address: addressSchema(), password }),
      secrets: ['password'],
      run: async (i: { address: string; password: string }) => store().setPassword(i.address, i.password),
    },
    'users-delete': {
      summary: 'delete a user (the mailbox stays on the volume)',
      output: v.object({ deleted: v.string(), mailboxKept: v.string() }),
      input: v.strictObject({ address: addressSchema() }),
      run: async (i: { address: string }) => store().deleteUser(i.address),
    },
    aliases: {
      readOnly: true,
      summary: 'list the aliases',
      output: v.array(alias),
      run: async () => store().listAliases(),
    },
    'aliases-add': {
      summary: 'add an alias: SOURCE (or @domain for every address) TARGETS (comma-separated)',
      output: alias,
      input: v.strictObject({ source: addressSchema({ catchAll: true }), targets }),
      run: async (i: { source: string; targets: string[] }) => store().addAlias(i.source, i.targets),
    },
    'aliases-delete': {
      summary: 'delete an alias: SOURCE',
      output: v.object({ deleted: v.string() }),
      input: v.strictObject({ source: addressSchema({ catchAll: true }) }),
      run: async (i: { source: string }) => store().deleteAlias(i.source),
    },
    queue: {
      readOnly: true,
      summary: 'the messages waiting in the queue (postqueue -j)',
      output: v.array(v.record(v.string(), v.unknown())),
      run: async () =>
        (await postqueue(['-j']))
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as unknown),
    },
    'queue-flush': {
      summary: 'try to deliver every queued message now',
      output: v.object({ flushed: v.literal(true) }),
      run: async () => {
        await postqueue(['-f']);
        return { flushed: true };
      },
    },
    'queue-delete': {
      summary: 'delete a queued message: ID (as queue lists it)',
      output: v.object({ deleted: v.string() }),
      input: v.strictObject({ id: queueId }),
      run: async (i: { id: string }) => {
        const { paths } = parts.settings();
        const result = await parts.commands.run(['postsuper', '-c', `${paths.postfixConf}/current`, '-d', i.id], {
          reject: false,
          timeoutMs: 30_000,
        });
        if (!/Deleted: 1 message/.test(result.stderr)) throw new BadRequest(`no queued message ${i.id}`);
        return { deleted: i.id };
      },
    },
    dkim: {
      readOnly: true,
      summary: 'the DKIM record to publish (TXT at SELECTOR._domainkey.DOMAIN)',
      output: v.array(v.object({ name: v.string(), type: v.literal('TXT'), value: v.string() })),
      phases: ['starting', 'ready'],
      run: async () => {
        const record = parts.dkimRecord();
        if (!record) throw new Unavailable('the DKIM key is made at start: try again in a moment');
        const s = parts.settings();
        return s.domains.map((d) => ({ name: `${s.dkimSelector}._domainkey.${d}`, type: 'TXT', value: record }));
      },
    },
  };
  return actions as unknown as Record<string, ServiceAction<never>>;
}
