import { defineService } from '@podserve/runtime';
import { apacheEnv } from './config.js';
import { ApacheService, apacheProcess } from './service.js';
import { apacheSettings } from './settings.js';

/** `node dist/main.js apache`: the pod's web server. */
export const apacheService = defineService({
  name: 'apache',
  summary: 'serve the site over HTTPS with apache2, reloading gracefully on every certificate renewal',
  modes: ['serve'],
  env: apacheEnv,
  checkEnv: (env) => {
    const ports = [
      ['HTTP_PORT', env.HTTP_PORT],
      ['HTTPS_PORT', env.HTTPS_PORT],
      ['ACME_HTTP_PORT', env.ACME_HTTP_PORT],
    ] as const;
    const problems = [];
    for (let i = 0; i < ports.length; i++) {
      for (let j = i + 1; j < ports.length; j++) {
        const [a, pa] = ports[i] ?? [];
        const [b, pb] = ports[j] ?? [];
        if (a && b && pa !== undefined && pa === pb) {
          problems.push({ variables: [a, b], message: `${a} and ${b} are both ${pa}: each needs its own port` });
        }
      }
    }
    return problems;
  },
  processes: (env, common) => [apacheProcess(apacheSettings(env, common))],
  create: (ctx) => new ApacheService(ctx),
});
