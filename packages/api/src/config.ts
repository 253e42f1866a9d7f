import { defineEnv, type EnvValues, envTypes } from '@podserve/runtime';

/** The API service's environment: validated at once, documented from here. */
export const apiEnv = defineEnv({
  DOMAIN: {
    ...envTypes.hostname(),
    devDefault: 'podserve.test',
    description: 'The name the API answers for: the pod’s certificate must cover it.',
  },
  API_PORT: { ...envTypes.port(), default: '8443', description: 'HTTPS port of the control API (unique in the pod).' },
  API_ADDRESS: {
    ...envTypes.oneOf(['127.0.0.1', '0.0.0.0'] as const),
    default: '127.0.0.1',
    description:
      'Where the API listens: loopback only (the default: reach it through a published port, or apache’s /api/), or every address when set to 0.0.0.0.',
  },
  API_TOKENS_FILE: {
    ...envTypes.absolutePath(),
    default: '/run/secrets/podserve/api-tokens',
    description:
      'The API’s bearer tokens, one a line: `NAME SCOPE sha256:HEX` (scope read or admin; the token’s SHA-256, never the token). `node dist/main.js api-token NAME SCOPE` makes one. Read at start and on every reload (SIGHUP).',
  },
  API_CONTROL_DIR: {
    ...envTypes.absolutePath(),
    default: '/run/podserve-control',
    description:
      'Where each service’s run directory is mounted, one directory per service (`<dir>/mail/mail.sock`): the API reaches the services only through these sockets.',
  },
  CERT_PATH: {
    ...envTypes.absolutePath(),
    default: '/data/state/certificates',
    description:
      'The certificates volume (read-only is enough): the API serves the newest generation, renewals included.',
  },
});

export type ApiEnv = EnvValues<typeof apiEnv>;
