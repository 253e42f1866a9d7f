export { type CertificatesEnv, certificatesEnv } from './config.js';
export {
  type CertificatePair,
  type CertificateWatcher,
  readCertificatePair,
  type WatchOptions,
  watchCertificates,
} from './consumer.js';
export { certificatesService } from './definition.js';
export { CertificateFollower, covers, type FollowerHooks, type FollowerOptions } from './follower.js';
export { KEY_TYPES, type KeyType } from './keys.js';
export { PUBLISHED_FILES } from './storage/layout.js';
export { certWatchService } from './watch-service.js';
