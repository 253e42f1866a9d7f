import { type ConfigFile, conf, dedent } from '@podserve/runtime';
import type { ApacheSettings } from './settings.js';

/** What a render needs beyond the settings: where this set lives and which pair to serve. */
export interface RenderInput {
  /** The set's own directory (a ConfigSet generation). */
  dir: string;
  settings: ApacheSettings;
  /**
   * The certificate generation's directory (resolved, so a reload serves exactly it).
   * Undefined before the first one is published: port 80 only, for ACME HTTP-01.
   */
  tlsDir: string | undefined;
  /** WEB_ROOT, or the built-in page's directory while WEB_ROOT is empty. */
  documentRoot: string;
  /** WEB_EXTRA_CONF's content, copied into the set so the checker sees exactly what is served. */
  extraConf?: string;
}

/** Mozilla's "intermediate" TLS 1.2 suites (guideline 5.7+); TLS 1.3 suites are OpenSSL's defaults. */
const INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/**
 * One JSON object per request on stdout. log_config escapes `"` and `\`, and writes other
 * bytes as \xHH, which the runtime turns into JSON's \u00HH before it parses the line.
 */
const ACCESS_LOG_JSON =
  '{\\"ts\\":\\"%{%Y-%m-%dT%H:%M:%S}t.%{msec_frac}t%{%z}t\\",\\"vhost\\":\\"%v\\",\\"port\\":%{local}p,\\"client\\":\\"%a\\",\\"method\\":\\"%m\\",\\"uri\\":\\"%U\\",\\"query\\":\\"%q\\",\\"proto\\":\\"%H\\",\\"status\\":%>s,\\"bytes\\":%B,\\"duration_us\\":%D,\\"referer\\":\\"%{Referer}i\\",\\"user_agent\\":\\"%{User-Agent}i\\",\\"tls\\":\\"%{SSL_PROTOCOL}x\\"}';

/**
 * URL paths never served (see the LocationMatch): a dot segment other than a leading
 * /.well-known, a .well-known segment anywhere else, or a backup/swap file's suffix.
 */
const HIDDEN_PATHS = String.raw`/\.(?!well-known(?:/|$))|(?<=.)/\.well-known(?:/|$)|(?i:~|\.(?:bak|swp|swo|orig|old|tmp|save))$`;

/** Defined only for `apache2 -t`: a block inside it is checked, never served. */
export const CHECK_SITE_DEFINE = 'PODSERVE_CHECK_SITE';
const CHECK_ONLY_HOST = 'site-check-only.invalid';

/** The catch-all hosts' name: `.invalid` (RFC 2606) can never be a name a client means. */
const UNKNOWN_HOST = 'unknown-host.invalid';

/** apache's whole configuration: one standalone file (no /etc/apache2, no envvars), plus the default page. */
export function renderApache(input: RenderInput): ConfigFile[] {
  const { dir, settings: s, tlsDir, documentRoot } = input;
  const httpsSuffix = s.httpsPort === 443 ? '' : `:${s.httpsPort}`;
  const aliases = s.names.slice(1);
  const routes = s.routes
    .map((r) => conf`    ProxyPass "${r.path}" "${r.target}"\n    ProxyPassReverse "${r.path}" "${r.target}"\n`)
    .join('');
  const head = dedent(conf`
    # Rendered by PodServe (apache service); every change goes through apache2 -t first.
    ServerRoot "${s.runDir}"
    DefaultRuntimeDir "${s.runDir}"
    PidFile "${s.runDir}/apache2.pid"

    # mod_log_config, mod_unixd and mod_so are built in.
    LoadModule mpm_event_module      /usr/lib/apache2/modules/mod_mpm_event.so
    LoadModule authz_core_module     /usr/lib/apache2/modules/mod_authz_core.so
    LoadModule alias_module          /usr/lib/apache2/modules/mod_alias.so
    LoadModule mime_module           /usr/lib/apache2/modules/mod_mime.so
    LoadModule dir_module            /usr/lib/apache2/modules/mod_dir.so
    LoadModule headers_module        /usr/lib/apache2/modules/mod_headers.so
    LoadModule rewrite_module        /usr/lib/apache2/modules/mod_rewrite.so
    LoadModule proxy_module          /usr/lib/apache2/modules/mod_proxy.so
    LoadModule proxy_http_module     /usr/lib/apache2/modules/mod_proxy_http.so
    LoadModule socache_shmcb_module  /usr/lib/apache2/modules/mod_socache_shmcb.so
    LoadModule ssl_module            /usr/lib/apache2/modules/mod_ssl.so
    LoadModule http2_module          /usr/lib/apache2/modules/mod_http2.so
    LoadModule reqtimeout_module     /usr/lib/apache2/modules/mod_reqtimeout.so
    LoadModule setenvif_module       /usr/lib/apache2/modules/mod_setenvif.so

    # The parent stays root (ports, the private key); workers run as www-data and read only WEB_ROOT.
    User www-data
    Group www-data

    StartServers            1
    ServerLimit             4
    ThreadsPerChild         25
    MinSpareThreads         25
    MaxSpareThreads         75
    MaxRequestWorkers       100
    # A graceful stop lets requests in flight finish for this long; the runtime's fast stop
    # (SIGTERM) and SIGKILL follow inside STOP_GRACE_PERIOD.
    GracefulShutdownTimeout ${s.gracefulStopSeconds}

    ServerName ${s.domain}
    ServerTokens Prod
    ServerSignature Off
    TraceEnable Off
    Timeout 60
    KeepAlive On
    RequestReadTimeout header=20-40,MinRate=500 body=20,MinRate=500

    Listen ${s.httpPort} http
  `);
  const common = dedent(conf`
    ErrorLog /dev/stderr
    LogLevel warn
    # Fields are space-separated; "[client\\ %a]" is one field, left out when there is no client.
    ErrorLogFormat "[%-m:%l] [pid %P] %E: [client\\ %a] %M"
    LogFormat "${ACCESS_LOG_JSON}" podserve_json
    # The runtime's own probes are not visitors: they stay out of the access log.
    SetEnvIf User-Agent "^podserve-probe$" podserve_probe
    CustomLog /dev/stdout podserve_json env=!podserve_probe

    TypesConfig /etc/mime.types
    DirectoryIndex index.html
    <Directory />
        Options None
        AllowOverride None
        Require all denied
    </Directory>
    # Never served, from the web root or a proxied route (404 whether or not the file exists,
    # and no error line per scanner's hit): a path segment starting with a dot (.git/,
    # .htpasswd, .env) except the root's /.well-known/ (RFC 8615), and editors' and admins'
    # leftovers (index.html~, .bak, .swp).
    <LocationMatch "${HIDDEN_PATHS}">
        Redirect 404
    </LocationMatch>

    SSLProtocol             -all +TLSv1.2 +TLSv1.3
    SSLCipherSuite          ${INTERMEDIATE_CIPHERS}
    SSLHonorCipherOrder     off
    SSLSessionTickets       off
    SSLSessionCache         "shmcb:${s.runDir}/ssl_scache(512000)"
    SSLSessionCacheTimeout  300

    # The first virtual host of a port is apache's answer for a Host (or an absolute request
    # target, or on HTTPS an SNI name) that names none of the site's: 421 Misdirected Request,
    # never a redirect to a name the client chose. ACME HTTP-01 still reaches the responder
    # for any name: a certificate may cover names the site does not serve (mail.DOMAIN), and
    # the responder answers only the tokens of its own pending orders.
    <VirtualHost *:${s.httpPort}>
        ServerName ${UNKNOWN_HOST}
        ProxyPass /.well-known/acme-challenge/ http://127.0.0.1:${s.acmeHttpPort}/.well-known/acme-challenge/
        ProxyPassReverse /.well-known/acme-challenge/ http://127.0.0.1:${s.acmeHttpPort}/.well-known/acme-challenge/
        RewriteEngine On
        RewriteCond %{REQUEST_URI} !^/\\.well-known/acme-challenge/
        RewriteRule ^ - [R=421,L]
    </VirtualHost>
  `);
  const httpsCatchAll =
    tlsDir === undefined
      ? ''
      : dedent(conf`
    Listen ${s.httpsPort} https

    <VirtualHost *:${s.httpsPort}>
        ServerName ${UNKNOWN_HOST}
        # The site's pair (handshakes without SNI land here): its names are not this host's (AH01909).
        LogLevel warn ssl:error
        Protocols h2 http/1.1
        SSLEngine on
        SSLCertificateFile    ${tlsDir}/fullchain.pem
        SSLCertificateKeyFile ${tlsDir}/privkey.pem
        RewriteEngine On
        RewriteRule ^ - [R=421,L]
    </VirtualHost>
  `);
  const httpSite =
    tlsDir === undefined
      ? dedent(conf`
    # No certificate yet: ACME HTTP-01 goes to the certificates service's responder (the first
    # certificate needs it); everything else is 503 until one is published, then HTTP redirects.
    <VirtualHost *:${s.httpPort}>
        ServerName ${s.domain}
        ServerAlias ${s.names}
        ProxyPass /.well-known/acme-challenge/ http://127.0.0.1:${s.acmeHttpPort}/.well-known/acme-challenge/
        ProxyPassReverse /.well-known/acme-challenge/ http://127.0.0.1:${s.acmeHttpPort}/.well-known/acme-challenge/
        Header always set Retry-After "10" "expr=%{REQUEST_STATUS} == 503"
        RewriteEngine On
        RewriteCond %{REQUEST_URI} !^/\\.well-known/acme-challenge/
        RewriteRule ^ - [R=503,L]
    </VirtualHost>
  `)
      : dedent(conf`
    # HTTP: ACME HTTP-01 goes to the certificates service's responder; everything else to HTTPS,
    # under the name asked for, which is one of the site's (the only way into this host).
    <VirtualHost *:${s.httpPort}>
        ServerName ${s.domain}
        ServerAlias ${s.names}
        ProxyPass /.well-known/acme-challenge/ http://127.0.0.1:${s.acmeHttpPort}/.well-known/acme-challenge/
        ProxyPassReverse /.well-known/acme-challenge/ http://127.0.0.1:${s.acmeHttpPort}/.well-known/acme-challenge/
        RewriteEngine On
        # The path exactly as the client sent it (a decoded %3F would be refused, AH10508).
        RewriteCond %{REQUEST_URI} !^/\\.well-known/acme-challenge/
        RewriteCond %{THE_REQUEST} "^[A-Z]+ (/[^ ?]*)"
        RewriteRule ^ https://%{SERVER_NAME}${httpsSuffix}%1 [R=301,NE,L]
        RewriteCond %{REQUEST_URI} !^/\\.well-known/acme-challenge/
        RewriteRule ^ https://%{SERVER_NAME}${httpsSuffix}%{REQUEST_URI} [R=301,L]
    </VirtualHost>
  `);
  const httpsSite =
    tlsDir === undefined
      ? ''
      : dedent(conf`
    <VirtualHost *:${s.httpsPort}>
        ServerName ${s.domain}
        ServerAlias ${s.names}
        Protocols h2 http/1.1
        SSLEngine on
        SSLCertificateFile    ${tlsDir}/fullchain.pem
        SSLCertificateKeyFile ${tlsDir}/privkey.pem
        Header always set Strict-Transport-Security "max-age=${s.hstsMaxAge}"
        Header always set X-Content-Type-Options "nosniff"
        Header always set Referrer-Policy "strict-origin-when-cross-origin"
        DocumentRoot "${documentRoot}"
        <Directory "${documentRoot}">
            Require all granted
        </Directory>
        RequestHeader set X-Forwarded-Proto "https"
    ${routes}${input.extraConf === undefined ? '' : conf`        Include "${dir}/extra.conf"\n`}    </VirtualHost>
  `);
  // Without a certificate the site's own directives (WEB_PROXY_ROUTES, WEB_EXTRA_CONF) are in no
  // served host, yet a mistake in them must be refused at the start, not when the first
  // certificate arrives: apache2 -t sees them in a plain host that only the checker defines.
  const siteCheckedOnly =
    tlsDir === undefined
      ? dedent(conf`
    <IfDefine ${CHECK_SITE_DEFINE}>
    <VirtualHost *:${s.httpPort}>
        ServerName ${CHECK_ONLY_HOST}
        DocumentRoot "${documentRoot}"
    ${routes}${input.extraConf === undefined ? '' : conf`        Include "${dir}/extra.conf"\n`}    </VirtualHost>
    </IfDefine>
  `)
      : '';
  const httpd = [head, common, httpsCatchAll, httpSite, httpsSite, siteCheckedOnly].filter(Boolean).join('\n');
  const files: ConfigFile[] = [{ path: 'httpd.conf', content: httpd }];
  if (input.extraConf !== undefined) files.push({ path: 'extra.conf', content: input.extraConf });
  if (documentRoot === `${dir}/default-site`) {
    files.push({ path: 'default-site/index.html', content: defaultPage(s.domain, aliases) });
  }
  return files;
}

function defaultPage(domain: string, aliases: readonly string[]): string {
  return dedent(conf`
    <!doctype html>
    <html lang="en">
    <head><meta charset="utf-8"><title>${domain}</title></head>
    <body>
    <h1>${domain} is served by PodServe</h1>
    <p>This page is shown while the web root is empty. Put your site's files there (WEB_ROOT).</p>
    ${aliases.length > 0 ? `<p>Also answering as: ${aliases.join(', ')}</p>` : ''}
    </body>
    </html>
  `);
}
