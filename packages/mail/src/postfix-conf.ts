import { type ConfigFile, conf, dedent } from '@podserve/runtime';
import type { MailSettings } from './settings.js';

/** Mozilla's "intermediate" TLS 1.2 suites; TLS 1.3 suites are OpenSSL's defaults. */
const INTERMEDIATE_CIPHERS =
  'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305';

/** postfix's main.cf and master.cf for one certificate generation: a complete set, /etc/postfix unused. */
export function renderPostfix(s: MailSettings, tlsDir: string): ConfigFile[] {
  const p = s.paths;
  const maps = (name: string) => `socketmap:unix:${p.socketmap}:${name}`;
  const relay = s.relay
    ? [
        '# MAIL_RELAY_HOST: every outgoing message goes through the provider, over TLS only.',
        conf`relayhost = ${s.relay.host}`,
        'smtp_tls_security_level = encrypt',
        ...(s.relay.user
          ? [
              conf`smtp_sasl_auth_enable = yes`,
              conf`smtp_sasl_password_maps = texthash:${p.relayPassword}`,
              'smtp_sasl_security_options = noanonymous',
              'smtp_sasl_tls_security_options = noanonymous',
            ]
          : ['# no credentials: the relay accepts us by address']),
        '',
      ].join('\n')
    : dedent(`
        # Direct delivery to each domain's MX; TLS whenever the other side offers it.
        relayhost =
        smtp_tls_security_level = may
      `);
  const main = `${dedent(conf`
    # Rendered by PodServe (mail service); checked with postconf and postfix check before use.
    compatibility_level = 3.10
    myhostname = ${s.hostname}
    mydomain = ${s.primaryDomain}
    myorigin = $mydomain
    # Every domain is virtual: users live in the mail service, not in /etc/passwd.
    mydestination =
    # Nobody relays by address: not the pod's network, not a NAT gateway. Relaying is only for
    # authenticated users (smtpd_relay_restrictions).
    mynetworks =
    inet_interfaces = all
    inet_protocols = ipv4
    smtpd_banner = $myhostname ESMTP
    biff = no
    append_dot_mydomain = no
    readme_directory = no
    alias_maps =
    alias_database =
    recipient_delimiter = +
    message_size_limit = ${s.messageSizeBytes}
    mailbox_size_limit = 0
    # Bounded: the pod gives this container a few hundred MiB.
    default_process_limit = 40
    smtpd_client_connection_count_limit = 20

    queue_directory = ${p.queue}
    data_directory = ${p.postfixData}
    meta_directory = /etc/postfix
    maillog_file = /dev/stdout

    # Users and aliases: asked of PID 1 at every lookup (socketmap), so a change is known to
    # postfix and dovecot at once. An unknown recipient is refused at RCPT, never bounced later.
    virtual_mailbox_domains = ${s.domains.join(', ')}
    virtual_mailbox_maps = ${maps('mailbox')}
    virtual_alias_maps = ${maps('alias')}
    virtual_transport = lmtp:unix:${p.lmtpSocket}
    smtpd_reject_unlisted_recipient = yes

    smtpd_tls_chain_files = ${tlsDir}/privkey.pem, ${tlsDir}/fullchain.pem
    smtpd_tls_security_level = may
    smtpd_tls_auth_only = yes
    smtpd_tls_protocols = >=TLSv1.2
    smtpd_tls_mandatory_protocols = >=TLSv1.2
    smtpd_tls_mandatory_ciphers = high
    tls_high_cipherlist = ${INTERMEDIATE_CIPHERS}
    smtpd_tls_loglevel = 1
    smtp_tls_loglevel = 1

    smtpd_sasl_type = dovecot
    smtpd_sasl_path = ${p.authSocket}
    smtpd_sasl_auth_enable = no
    smtpd_sasl_security_options = noanonymous
    smtpd_sasl_tls_security_options = noanonymous
    smtpd_sasl_authenticated_header = no

    smtpd_helo_required = yes
    disable_vrfy_command = yes
    smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
    smtpd_recipient_restrictions = reject_non_fqdn_recipient
    smtpd_data_restrictions = reject_unauth_pipelining

    # DKIM: opendkim signs what authenticated users send and verifies the rest. A missing
    # milter does not stop mail (readiness says opendkim is down).
    smtpd_milters = inet:127.0.0.1:${s.ports.milter}
    non_smtpd_milters = $smtpd_milters
    milter_default_action = accept
  `)}
${relay}`;
  return [
    { path: 'main.cf', content: main },
    { path: 'master.cf', content: renderMaster(s) },
  ];
}

function renderMaster(s: MailSettings): string {
  const authenticated = [
    '  -o smtpd_sasl_auth_enable=yes',
    '  -o smtpd_client_restrictions=permit_sasl_authenticated,reject',
    '  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject',
    '  -o milter_macro_daemon_name=ORIGINATING',
  ];
  const inet = (port: number) => `${String(port).padEnd(10)} inet  n       -       n       -       -       smtpd`;
  return [
    '# Rendered by PodServe (mail service). chroot = n everywhere: the container is the jail.',
    '# service type  private unpriv  chroot  wakeup  maxproc command + args',
    inet(s.ports.smtp),
    inet(s.ports.submission),
    '  -o syslog_name=postfix/submission',
    '  -o smtpd_tls_security_level=encrypt',
    ...authenticated,
    inet(s.ports.submissions),
    '  -o syslog_name=postfix/submissions',
    '  -o smtpd_tls_wrappermode=yes',
    ...authenticated,
    dedent(`
      pickup     unix  n       -       n       60      1       pickup
      cleanup    unix  n       -       n       -       0       cleanup
      qmgr       unix  n       -       n       300     1       qmgr
      tlsmgr     unix  -       -       n       1000?   1       tlsmgr
      rewrite    unix  -       -       n       -       -       trivial-rewrite
      bounce     unix  -       -       n       -       0       bounce
      defer      unix  -       -       n       -       0       bounce
      trace      unix  -       -       n       -       0       bounce
      verify     unix  -       -       n       -       1       verify
      flush      unix  n       -       n       1000?   0       flush
      proxymap   unix  -       -       n       -       -       proxymap
      proxywrite unix  -       -       n       -       1       proxymap
      smtp       unix  -       -       n       -       -       smtp
      relay      unix  -       -       n       -       -       smtp
      showq      unix  n       -       n       -       -       showq
      error      unix  -       -       n       -       -       error
      retry      unix  -       -       n       -       -       error
      discard    unix  -       -       n       -       -       discard
      lmtp       unix  -       -       n       -       -       lmtp
      anvil      unix  -       -       n       -       1       anvil
      scache     unix  -       -       n       -       1       scache
      postlog    unix-dgram n  -       n       -       1       postlogd
    `),
  ].join('\n');
}
