import { defineEnv, type EnvValues, envTypes } from '@podserve/runtime';
import * as v from 'valibot';
import { address } from './addresses.js';

/** `host`, `host:port` or `[host]:port` (brackets: no MX lookup, as postfix writes it). */
function relayHost(): envTypes.EnvType<string> {
  return {
    schema: v.pipe(
      v.string(),
      v.regex(
        /^(\[[A-Za-z0-9.-]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/,
        'expected a relay host such as [smtp.provider.example]:587 (brackets: no MX lookup)',
      ),
    ),
    type: 'host[:port]',
  };
}

/** The mail service's environment: validated at once, documented from here. */
export const mailEnv = defineEnv({
  DOMAIN: {
    ...envTypes.hostname(),
    devDefault: 'podserve.test',
    description: 'The pod’s domain: the mail domain, unless MAIL_DOMAINS names others.',
  },
  MAIL_DOMAINS: {
    ...envTypes.hostnameList(),
    optional: true,
    description:
      'The domains this server receives mail for (comma-separated). Default: DOMAIN. Mail to any other domain is relayed only for authenticated users.',
  },
  MAIL_HOSTNAME: {
    ...envTypes.hostname(),
    optional: true,
    description:
      'The server’s own name: the SMTP banner and HELO, and the name its certificate must cover. Default: mail.DOMAIN.',
  },
  CERT_PATH: {
    ...envTypes.absolutePath(),
    default: '/data/state/certificates',
    description:
      'The certificates volume (read-only is enough). postfix and dovecot serve the newest generation that covers MAIL_HOSTNAME.',
  },
  MAIL_STATE_DIR: {
    ...envTypes.absolutePath(),
    default: '/data/state/mail',
    description: 'Users, aliases, mailboxes, the mail queue and the DKIM key: everything that must survive a restart.',
  },
  MAIL_RUN_DIR: {
    ...envTypes.absolutePath(),
    default: '/run/podserve-mail',
    description: 'Rendered configurations and the daemons’ sockets (a tmpfs is enough).',
  },
  MAIL_MESSAGE_SIZE_MB: {
    ...envTypes.integer({ min: 1, max: 200 }),
    default: '25',
    description: 'The largest message accepted, in MiB (postfix message_size_limit).',
  },
  MAIL_ADMIN_ADDRESS: {
    ...address(),
    optional: true,
    description:
      'The first user, made at start when missing (with MAIL_ADMIN_PASSWORD, usually from a Secret as MAIL_ADMIN_PASSWORD_FILE): nobody needs podman exec to bootstrap. postmaster@ and abuse@ of every domain reach it unless an alias says otherwise.',
  },
  MAIL_ADMIN_PASSWORD: {
    ...envTypes.text(),
    optional: true,
    secret: true,
    description:
      'The first user’s password, set when the user is made (a later change of it is applied at the next start).',
  },
  MAIL_RELAY_HOST: {
    ...relayHost(),
    optional: true,
    description:
      'Send outgoing mail through this host (a provider’s submission service), e.g. `[smtp.provider.example]:587`. Default: deliver directly to each domain’s MX.',
  },
  MAIL_RELAY_USER: {
    ...envTypes.text(),
    optional: true,
    description: 'The user name for MAIL_RELAY_HOST (SASL over TLS).',
  },
  MAIL_RELAY_PASSWORD: {
    ...envTypes.text(),
    optional: true,
    secret: true,
    description: 'The password for MAIL_RELAY_HOST; usually MAIL_RELAY_PASSWORD_FILE from a Secret.',
  },
  MAIL_DKIM_SELECTOR: {
    ...envTypes.text({ pattern: /^[a-z0-9][a-z0-9-]{0,62}$/, expected: 'a DNS label such as mail or s2026' }),
    default: 'mail',
    description:
      'The DKIM selector: outgoing mail is signed with the key published at SELECTOR._domainkey.DOMAIN (`ctl dkim` prints the record).',
  },
  MAIL_DKIM_TSIG_KEY_FILE: {
    ...envTypes.absolutePath(),
    default: '/data/state/dns/tsig/dkim-update.key',
    description:
      'The dns service’s key for DKIM records (a BIND key clause; in the pod, the shared state volume’s). While it exists, the DKIM record is published into MAIL_DNS_ZONE by RFC 2136; otherwise it is only logged, for you to add.',
  },
  MAIL_DNS_SERVER: {
    ...envTypes.text({ pattern: /^[0-9a-fA-F.:]+#\d{1,5}$|^[0-9a-fA-F.:]+$/, expected: 'an address, or ADDRESS#PORT' }),
    default: '127.0.0.1',
    description:
      'The DNS server the DKIM record is sent to (RFC 2136), `ADDRESS` or `ADDRESS#PORT`: in the pod, the dns container on 127.0.0.1.',
  },
  MAIL_DNS_ZONE: {
    ...envTypes.hostname(),
    optional: true,
    description: 'The zone the DKIM record is published in. Default: DOMAIN.',
  },
  MAIL_SMTP_PORT: { ...envTypes.port(), default: '25', description: 'SMTP for incoming mail (MX), STARTTLS offered.' },
  MAIL_SUBMISSION_PORT: {
    ...envTypes.port(),
    default: '587',
    description: 'Submission for users: STARTTLS, then authentication, required.',
  },
  MAIL_SUBMISSIONS_PORT: {
    ...envTypes.port(),
    default: '465',
    description: 'Submission over implicit TLS, authentication required.',
  },
  MAIL_IMAP_PORT: {
    ...envTypes.port(),
    default: '143',
    description: 'IMAP: no authentication before STARTTLS.',
  },
  MAIL_IMAPS_PORT: { ...envTypes.port(), default: '993', description: 'IMAP over implicit TLS.' },
  MAIL_MILTER_PORT: {
    ...envTypes.port(),
    default: '8891',
    description: 'opendkim’s milter port on 127.0.0.1 (unique in the pod).',
  },
});

export type MailEnv = EnvValues<typeof mailEnv>;

/** The ports, as the checks that each be unique see them. */
export const PORT_VARIABLES = [
  'MAIL_SMTP_PORT',
  'MAIL_SUBMISSION_PORT',
  'MAIL_SUBMISSIONS_PORT',
  'MAIL_IMAP_PORT',
  'MAIL_IMAPS_PORT',
  'MAIL_MILTER_PORT',
] as const;
