/**
 * The certificate consumer's side, for every TLS daemon: reading and watching the certificates
 * volume, and following its generations into a daemon. A subpath of its own: a service that
 * serves no TLS does not load it.
 */
export * from './consumer.js';
export * from './follower.js';
export * from './key-type.js';
export * from './pem.js';
