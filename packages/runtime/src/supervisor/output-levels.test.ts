import { describe, expect, it } from 'vitest';
import { classifyLine } from './output-levels.js';

describe('classifyLine', () => {
  it.each([
    ['[Wed Dec 02 10:00:00.000 2026] [ssl:warn] [pid 7] AH01909: server certificate does not include an ID', 'warn'],
    ['[Wed Dec 02 10:00:00.000 2026] [core:error] [pid 7] AH00111: config variable not defined', 'error'],
    ['[Wed Dec 02 10:00:00.000 2026] [mpm_event:notice] [pid 7] AH00489: Apache/2.4 configured', 'info'],
    ['postfix/smtpd[12]: warning: hostname localhost does not resolve', 'warn'],
    ['postfix/master[1]: fatal: bind 0.0.0.0 port 25: Address already in use', 'fatal'],
    ['Dec 02 10:00:00 imap(user)<1><x>: Error: Mailbox INBOX: open failed', 'error'],
    ['dovecot: master: Fatal: service(imap-login) access(/usr/lib) failed', 'fatal'],
    ['02-Dec-2026 10:00:00.000 general: error: zone example.test/IN: loading failed', 'error'],
    ['just a line of output', 'info'],
    ['GET /error/page HTTP/1.1 200 - a URL saying error is not an error', 'info'],
  ])('%s → %s', (line, level) => {
    expect(classifyLine(line, 'stderr').level).toBe(level);
  });

  it('turns a JSON line (an access log) into fields of the record', () => {
    const line = JSON.stringify({ time: 't', method: 'GET', path: '/a"b', status: 200, ua: 'curl\\x' });
    const out = classifyLine(line, 'stdout');
    expect(out).toEqual({
      level: 'info',
      msg: '',
      fields: { daemon_time: 't', method: 'GET', path: '/a"b', status: 200, ua: 'curl\\x' },
    });
    expect(classifyLine('{"method":"GET","uri":"/x","status":301}', 'stdout')).toMatchObject({
      msg: 'GET /x 301',
    });
    expect(classifyLine('{"level":"error","msg":"boom","code":3}', 'stdout')).toEqual({
      level: 'error',
      msg: 'boom',
      fields: { code: 3 },
    });
    expect(classifyLine('{not json}', 'stdout')).toEqual({ level: 'info', msg: '{not json}' });
    // apache escapes a control byte as \xHH (not JSON) and a backslash as \\ (JSON).
    expect(classifyLine('{"ua":"a\\x07b\\\\x41"}', 'stdout').fields).toEqual({ ua: 'a\u0007b\\x41' });
  });
});
