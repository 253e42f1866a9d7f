import { type ConfigFile, conf, dedent } from '@podserve/runtime';
import type { MailSettings } from './settings.js';

/**
 * dovecot 2.4's whole configuration, one file (no conf.d): IMAP with STARTTLS required on 143
 * and implicit TLS on 993, LMTP and the SASL service for postfix on Unix sockets, users from
 * the mail service's passwd-file (re-read by dovecot when it changes), maildirs in the state
 * volume. The version lines come first, as 2.4 requires.
 */
export function renderDovecot(s: MailSettings, tlsDir: string): ConfigFile[] {
  const p = s.paths;
  const content = dedent(conf`
    # Rendered by PodServe (mail service); checked with doveconf before use.
    dovecot_config_version = 2.4.0
    dovecot_storage_version = 2.4.0

    protocols = imap lmtp
    listen = *
    # A reload (each certificate renewal) leaves logged-in sessions alone; with the default
    # (yes) the old configuration's imap and TLS-proxying login processes get SIGTERM 6 s
    # after it (measured: an IMAP session closed 6.2 s after a reload). On a stop the
    # supervisor sends what is left of dovecot's process group the stop signal.
    shutdown_clients = no
    base_dir = ${p.dovecotBase}
    # The supervisor reads both: warnings and errors on stderr, the rest on stdout.
    log_path = /dev/stderr
    info_log_path = /dev/stdout

    ssl = required
    ssl_server_cert_file = ${tlsDir}/fullchain.pem
    ssl_server_key_file = ${tlsDir}/privkey.pem
    ssl_min_protocol = TLSv1.2

    # No password before TLS (loopback counts as secure to dovecot: the pod's own probes).
    auth_mechanisms = plain login
    auth_allow_cleartext = no
    auth_username_format = %{user | lower}

    passdb passwd-file {
      passwd_file_path = ${p.users}
    }
    userdb passwd-file {
      passwd_file_path = ${p.users}
    }

    mail_driver = maildir
    mail_path = ~/Maildir
    first_valid_uid = 5000
    last_valid_uid = 5000

    namespace inbox {
      inbox = yes
      separator = /
      mailbox Drafts {
        special_use = \\Drafts
        auto = subscribe
      }
      mailbox Junk {
        special_use = \\Junk
        auto = subscribe
      }
      mailbox Sent {
        special_use = \\Sent
        auto = subscribe
      }
      mailbox Trash {
        special_use = \\Trash
        auto = subscribe
      }
    }

    service imap-login {
      inet_listener imap {
        port = ${s.ports.imap}
      }
      inet_listener imaps {
        port = ${s.ports.imaps}
        ssl = yes
      }
    }
    service lmtp {
      unix_listener ${p.lmtpSocket} {
        mode = 0600
        user = postfix
        group = postfix
      }
    }
    service auth {
      unix_listener ${p.authSocket} {
        mode = 0660
        user = postfix
        group = postfix
      }
    }
  `);
  return [{ path: 'dovecot.conf', content }];
}
