export {
  CertificateFollower,
  type CertificatePair,
  type CertificateWatcher,
  covers,
  type FollowerHooks,
  type FollowerOptions,
  readCertificatePair,
  type WatchOptions,
  watchCertificates,
} from '@podserve/runtime/tls';
export { type CertificatesEnv, certificatesEnv } from './config.js';
export { certificatesService } from './definition.js';
export { KEY_TYPES, type KeyType } from './keys.js';
export { PUBLISHED_FILES } from './storage/layout.js';
export { certWatchService } from './watch-service.js';
