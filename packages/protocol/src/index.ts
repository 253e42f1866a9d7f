export * from './codes.js';
export * from './errors.js';
export * from './schemas.js';
export * from './version.js';
