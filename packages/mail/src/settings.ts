import { join } from 'node:path';
import type { CommonSettings } from '@podserve/runtime';
import type { MailEnv } from './config.js';

/** What the templates and the service need, derived once from the environment. */
export interface MailSettings {
  hostname: string;
  domains: string[];
  /** The first domain: postfix's mydomain and myorigin. */
  primaryDomain: string;
  certPath: string;
  messageSizeBytes: number;
  admin: { address: string; password: string | undefined } | undefined;
  relay: { host: string; user: string | undefined; password: string | undefined } | undefined;
  dkimSelector: string;
  dkimPublish: { keyFile: string; server: { host: string; port: number }; zone: string };
  ports: { smtp: number; submission: number; submissions: number; imap: number; imaps: number; milter: number };
  paths: MailPaths;
  stopBudgetMs: number;
}

export interface MailPaths {
  state: string;
  run: string;
  /** dovecot's passwd-file, our aliases, the lock held while either changes. */
  users: string;
  aliases: string;
  usersLock: string;
  mailboxes: string;
  /** postfix's queue and data directories: mail in flight survives a restart. */
  queue: string;
  postfixData: string;
  dkimKey: string;
  /** The rendered configuration sets (ConfigSet roots, each with `current`). */
  postfixConf: string;
  dovecotConf: string;
  opendkimConf: string;
  /** Sockets: dovecot's LMTP and auth for postfix, PID 1's socketmap, dovecot's base_dir. */
  lmtpSocket: string;
  authSocket: string;
  socketmap: string;
  dovecotBase: string;
  /** The relay host's password, for postfix's smtp_sasl_password_maps (0600). */
  relayPassword: string;
}

export function mailSettings(env: MailEnv, common: Pick<CommonSettings, 'stopBudgetMs'>): MailSettings {
  const domains = env.MAIL_DOMAINS ?? [env.DOMAIN];
  const state = env.MAIL_STATE_DIR;
  const run = env.MAIL_RUN_DIR;
  return {
    hostname: env.MAIL_HOSTNAME ?? `mail.${env.DOMAIN}`,
    domains,
    primaryDomain: domains[0] ?? env.DOMAIN,
    certPath: env.CERT_PATH,
    messageSizeBytes: env.MAIL_MESSAGE_SIZE_MB * 1024 * 1024,
    admin: env.MAIL_ADMIN_ADDRESS ? { address: env.MAIL_ADMIN_ADDRESS, password: env.MAIL_ADMIN_PASSWORD } : undefined,
    relay: env.MAIL_RELAY_HOST
      ? { host: env.MAIL_RELAY_HOST, user: env.MAIL_RELAY_USER, password: env.MAIL_RELAY_PASSWORD }
      : undefined,
    dkimSelector: env.MAIL_DKIM_SELECTOR,
    dkimPublish: {
      keyFile: env.MAIL_DKIM_TSIG_KEY_FILE,
      server: {
        host: env.MAIL_DNS_SERVER.split('#')[0] as string,
        port: Number(env.MAIL_DNS_SERVER.split('#')[1] ?? 53),
      },
      zone: env.MAIL_DNS_ZONE ?? env.DOMAIN,
    },
    ports: {
      smtp: env.MAIL_SMTP_PORT,
      submission: env.MAIL_SUBMISSION_PORT,
      submissions: env.MAIL_SUBMISSIONS_PORT,
      imap: env.MAIL_IMAP_PORT,
      imaps: env.MAIL_IMAPS_PORT,
      milter: env.MAIL_MILTER_PORT,
    },
    paths: {
      state,
      run,
      users: join(state, 'users.passwd'),
      aliases: join(state, 'aliases.json'),
      usersLock: join(state, '.users.lock'),
      mailboxes: join(state, 'mailboxes'),
      queue: join(state, 'queue'),
      postfixData: join(state, 'postfix-data'),
      dkimKey: join(state, 'dkim', 'private.pem'),
      postfixConf: join(run, 'postfix'),
      dovecotConf: join(run, 'dovecot'),
      opendkimConf: join(run, 'opendkim'),
      lmtpSocket: join(run, 'sockets', 'lmtp'),
      authSocket: join(run, 'sockets', 'auth'),
      socketmap: join(run, 'sockets', 'maps'),
      dovecotBase: join(run, 'dovecot-base'),
      relayPassword: join(run, 'relay-password'),
    },
    stopBudgetMs: common.stopBudgetMs,
  };
}
