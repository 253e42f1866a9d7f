import { defineService } from '@podserve/runtime';
import { apiEnv } from './config.js';
import { ApiService } from './service.js';

/** `node dist/main.js api`: the pod's control API over HTTPS. */
export const apiService = defineService({
  name: 'api',
  summary:
    'the pod’s control API over HTTPS: status, logs, reloads, users, records and certificates, with bearer tokens',
  modes: ['serve'],
  env: apiEnv,
  create: (ctx) => new ApiService(ctx),
});
