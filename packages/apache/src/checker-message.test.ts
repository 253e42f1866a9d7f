import { describe, expect, it } from 'vitest';
import { checkerMessage } from './service.js';

// apache2 -t's own words (Debian 13's apache 2.4), as captured from the image.
const SET = '/run/podserve-apache/conf/20261203T212340123Z-1';

describe('checkerMessage', () => {
  it('says file:line and the detail for our own files', () => {
    const out = `AH00526: Syntax error on line 2 of ${SET}/extra.conf:\nInvalid command 'NoSuchDirective', perhaps misspelled or defined by a module not included in the server configuration\n`;
    expect(checkerMessage(out, 1, SET)).toBe(
      `${SET}/extra.conf:2: Invalid command 'NoSuchDirective', perhaps misspelled or defined by a module not included in the server configuration`,
    );
  });

  it('never quotes a file outside the set: an Include /etc/shadow is cut to file:line', () => {
    const out =
      "AH00526: Syntax error on line 1 of /etc/shadow:\nInvalid command 'root:*:20790:0:99999:7:::', perhaps misspelled or defined by a module not included in the server configuration\n";
    const message = checkerMessage(out, 1, SET);
    expect(message).toMatch(/^\/etc\/shadow:1: /);
    expect(message).not.toContain('root:');
    expect(message).not.toContain('20790');
  });

  it('a path that only looks like ours (.. or a sibling set) is outside too', () => {
    for (const file of [`${SET}/../../../etc/shadow`, `${SET}-old/extra.conf`, `${SET}`]) {
      const out = `AH00526: Syntax error on line 3 of ${file}:\nInvalid command 'secret-line'\n`;
      expect(checkerMessage(out, 1, SET), file).not.toContain('secret-line');
    }
  });

  it('an Include chain on one line: the innermost file decides', () => {
    const own = `apache2: Syntax error on line 120 of ${SET}/httpd.conf: Syntax error on line 1 of ${SET}/extra.conf: Could not open configuration file /etc/nonexist: No such file or directory`;
    expect(checkerMessage(own, 1, SET)).toBe(
      `${SET}/extra.conf:1: Could not open configuration file /etc/nonexist: No such file or directory`,
    );
    const foreign = `apache2: Syntax error on line 120 of ${SET}/httpd.conf: Syntax error on line 1 of ${SET}/extra.conf: Syntax error on line 4 of /etc/private.conf: Invalid command 'hunter2'`;
    const message = checkerMessage(foreign, 1, SET);
    expect(message).toMatch(/^\/etc\/private\.conf:4: /);
    expect(message).not.toContain('hunter2');
  });

  it('without a location: the first line, or the exit code', () => {
    expect(checkerMessage('\n  AH00534: apache2: Configuration error: No MPM loaded.\n', 1, SET)).toBe(
      'AH00534: apache2: Configuration error: No MPM loaded.',
    );
    expect(checkerMessage('\n', 1, SET)).toBe('apache2 -t exited 1');
  });
});
