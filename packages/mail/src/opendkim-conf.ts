import { type ConfigFile, conf, dedent } from '@podserve/runtime';
import type { MailSettings } from './settings.js';

/**
 * opendkim signs what postfix's submission services pass on (milter_macro_daemon_name =
 * ORIGINATING: authenticated users) for every MAIL_DOMAINS domain, and verifies the rest.
 */
export function renderOpendkim(s: MailSettings): ConfigFile[] {
  const content = dedent(conf`
    # Rendered by PodServe (mail service); opendkim -n checks it before use.
    Socket                  inet:${s.ports.milter}@127.0.0.1
    Mode                    sv
    MTA                     ORIGINATING
    Domain                  ${s.domains.join(',')}
    Selector                ${s.dkimSelector}
    KeyFile                 ${s.paths.dkimKey}
    Canonicalization        relaxed/simple
    SignatureAlgorithm      rsa-sha256
    OversignHeaders         From
    UserID                  opendkim
    UMask                   007
    # No syslog in the container; what opendkim says on stderr reaches the log.
    Syslog                  no
    PidFile                 ${s.paths.run}/opendkim.pid
  `);
  return [{ path: 'opendkim.conf', content }];
}
