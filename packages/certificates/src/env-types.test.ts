import { envTypes } from '@podserve/runtime';
import { describe, expect, it } from 'vitest';
import { acmeDirectory, dnsServer, LETS_ENCRYPT, ownerName } from './env-types.js';

const parse = envTypes.parseValue;

describe('certificates env types', () => {
  it('ACME directory: shortcuts resolve to Let’s Encrypt, other values must be https URLs', () => {
    expect(parse(acmeDirectory(), 'staging')).toEqual({ ok: true, value: LETS_ENCRYPT.staging });
    expect(parse(acmeDirectory(), 'production')).toEqual({ ok: true, value: LETS_ENCRYPT.production });
    expect(parse(acmeDirectory(), 'https://127.0.0.1:14000/dir')).toEqual({
      ok: true,
      value: 'https://127.0.0.1:14000/dir',
    });
    expect(parse(acmeDirectory(), 'http://example.com/dir').ok).toBe(false);
    expect(parse(acmeDirectory(), 'stagin').ok).toBe(false);
  });

  it('DNS server: host, host:port, [v6]:port; port 53 by default', () => {
    expect(parse(dnsServer(), '127.0.0.1')).toEqual({ ok: true, value: { host: '127.0.0.1', port: 53 } });
    expect(parse(dnsServer(), 'ns1.example.com:5353')).toEqual({
      ok: true,
      value: { host: 'ns1.example.com', port: 5353 },
    });
    expect(parse(dnsServer(), '[::1]:53')).toEqual({ ok: true, value: { host: '::1', port: 53 } });
    expect(parse(dnsServer(), 'bad host').ok).toBe(false);
    expect(parse(dnsServer(), 'h:99999').ok).toBe(false);
  });

  it('owner names: names or ids', () => {
    expect(parse(ownerName(), 'certgroup').ok).toBe(true);
    expect(parse(ownerName(), '9999').ok).toBe(true);
    expect(parse(ownerName(), 'no spaces').ok).toBe(false);
  });
});
