import { defineService } from '@podserve/runtime';
import { dnsEnv } from './config.js';
import { namedProcess } from './named-process.js';
import { DnsService } from './service.js';
import { dnsSettings } from './settings.js';

/** `node dist/main.js dns`: the pod's authoritative DNS server (BIND 9). */
export const dnsService = defineService({
  name: 'dns',
  summary:
    'serve the pod’s zone with BIND 9 (DNSSEC, RFC 2136 for ACME DNS-01), rendered from the environment at every start',
  modes: ['serve'],
  env: dnsEnv,
  checkEnv: (env) => {
    const problems = [];
    if (env.DNS_PORT === env.DNS_RNDC_PORT) {
      problems.push({
        variables: ['DNS_PORT', 'DNS_RNDC_PORT'],
        message: `DNS_PORT and DNS_RNDC_PORT are both ${env.DNS_PORT}: each needs its own port`,
      });
    }
    const keys = [env.DNS_UPDATE_KEY_NAME, env.DNS_TRANSFER_KEY_NAME, env.DNS_DKIM_KEY_NAME];
    if (new Set(keys).size < keys.length && env.DNS_UPDATE_KEY_NAME !== env.DNS_TRANSFER_KEY_NAME) {
      problems.push({
        variables: ['DNS_UPDATE_KEY_NAME', 'DNS_TRANSFER_KEY_NAME', 'DNS_DKIM_KEY_NAME'],
        message: `DNS_DKIM_KEY_NAME (${env.DNS_DKIM_KEY_NAME}) must differ from the update and transfer keys: each key may do one thing`,
      });
    }
    if (env.DNS_UPDATE_KEY_NAME === env.DNS_TRANSFER_KEY_NAME) {
      problems.push({
        variables: ['DNS_UPDATE_KEY_NAME', 'DNS_TRANSFER_KEY_NAME'],
        message:
          'DNS_UPDATE_KEY_NAME and DNS_TRANSFER_KEY_NAME must differ: updates and transfers have keys of their own',
      });
    }
    return problems;
  },
  processes: (env) => [namedProcess(dnsSettings(env))],
  create: (ctx) => new DnsService(ctx),
});
