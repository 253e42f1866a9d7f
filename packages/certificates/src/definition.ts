import { defineService } from '@podserve/runtime';
import { certificatesEnv } from './config.js';
import { CertificatesService, MODES_HELP } from './service.js';
import { deriveSettings } from './settings.js';

/** `node dist/main.js certificates [--mode cron|init|renew] [--dry-run]` */
export const certificatesService = defineService({
  name: 'certificates',
  summary: 'issue (self-signed or ACME), renew and atomically publish TLS certificates into CERT_PATH',
  modes: ['cron', 'init', 'renew'],
  modeHelp: MODES_HELP,
  env: certificatesEnv,
  checkEnv: (env) => {
    const result = deriveSettings(env);
    return result.ok ? [] : result.problems;
  },
  create: (ctx) => new CertificatesService(ctx),
});
