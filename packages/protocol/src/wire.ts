/**
 * What every runtime needs at run time to speak the protocol: the version and the error codes,
 * without valibot or the schemas (types are imported apart, and cost nothing at run time).
 * PID 1 and each `health` probe parse every byte they load.
 */
export * from './codes.js';
export * from './version.js';
