declare const __PODSERVE_VERSION__: string | undefined;

/** Injected by the bundler from package.json; "dev" when running from source. */
export const version: string = typeof __PODSERVE_VERSION__ === 'string' ? __PODSERVE_VERSION__ : 'dev';
