// Bundles PodServe for images, which get no node_modules:
//   dist/main.js                 the single entry point: CLI + runtime (every image's init)
//   dist/services/<name>.js      one per service, loaded by main.js only when that service runs
//   dist/pretty.js               pino-pretty, loaded only for LOG_FORMAT=pretty
//   dist/reaper.node             the native addon (reaping, spawning, sd_notify socket)
//   dist/podserve-setuid         the helper that drops root with initgroups before exec
// Service code stays out of main.js because every byte of it is parsed and kept in memory by
// every process, including `health` probes and `exec`: measured, the certificates service's
// dependencies (acme-client, axios, node-forge) would add 1.4 MB to the bundle, ~2 MB of RSS and
// 25 ms to each probe. A service bundle shares main.js's runtime instance (one logger, one
// supervisor, one signal queue) through a global that main.js sets before loading it.
// The bundles are CommonJS (dist/package.json says so): an ESM entry alone costs ~1.9 MB RSS.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const dist = join(root, 'dist');
/** Services bundled separately, from the registry: workspace package name → bundle name. */
const registry = JSON.parse(readFileSync(join(root, 'services.json'), 'utf8'));
const SERVICES = Object.fromEntries(registry.services.map((s) => [s.package, s.package.split('/')[1]]));

/**
 * Memory, measured: the supervisor must stay within 10 % of a bare Node's RSS, and
 * pino's dependencies load Node built-ins PodServe never needs. pino requires
 * thread-stream (and with it worker_threads) for worker transports, which PodServe
 * never uses: it writes to stdout and a file synchronously.
 */
const withoutPinoTransports = {
  name: 'without-pino-transports',
  setup(b) {
    b.onResolve({ filter: /^thread-stream$/ }, () => ({ path: 'thread-stream', namespace: 'stub' }));
    // pino's tools.js asks worker_threads only whether it runs on the main thread: it always does here.
    b.onResolve({ filter: /^(node:)?worker_threads$/ }, (args) =>
      /[\\/]pino[\\/]lib[\\/]tools\.js$/.test(args.importer)
        ? { path: 'worker_threads', namespace: 'stub' }
        : undefined,
    );
    // sonic-boom (pino's destination) loads node:assert for one plain assert(cond, message) call;
    // node:assert alone costs ~1.4 MB of RSS. This stand-in behaves the same for that call.
    b.onResolve({ filter: /^(node:)?assert$/ }, (args) =>
      /[\\/]sonic-boom[\\/]index\.js$/.test(args.importer) ? { path: 'assert', namespace: 'stub' } : undefined,
    );
    // pino.js reads os.hostname() at load for its default `base`, which PodServe replaces.
    b.onResolve({ filter: /^(node:)?os$/ }, (args) =>
      /[\\/]pino[\\/]pino\.js$/.test(args.importer) ? { path: 'os', namespace: 'stub' } : undefined,
    );
    const stubs = {
      'thread-stream':
        "module.exports = function ThreadStream() { throw new Error('pino transports are not bundled in PodServe'); };",
      worker_threads: 'module.exports = { isMainThread: true };',
      assert: 'module.exports = function assert(value, message) { if (!value) throw new Error(message); };',
      os: "module.exports = { hostname: () => process.env.HOSTNAME || '' };",
    };
    b.onLoad({ filter: /.*/, namespace: 'stub' }, (args) => ({ contents: stubs[args.path], loader: 'js' }));
  },
};

/** In main.js, a service package becomes a require() of its own bundle. */
const servicesAsSeparateBundles = {
  name: 'services-as-separate-bundles',
  setup(b) {
    b.onResolve({ filter: /^@podserve\/[a-z-]+$/ }, (args) =>
      SERVICES[args.path] ? { path: `./services/${SERVICES[args.path]}.js`, external: true } : undefined,
    );
  },
};

/**
 * pino-pretty and its dependencies are a third of main.js, and only LOG_FORMAT=pretty uses
 * them: they get a bundle of their own, so every other process skips keeping ~80 KiB of
 * source text in memory.
 */
const prettyAsSeparateBundle = {
  name: 'pretty-as-separate-bundle',
  setup(b) {
    b.onResolve({ filter: /^pino-pretty$/ }, () => ({ path: './pretty.js', external: true }));
  },
};

const BUNDLED_WITH_SERVICES = new Set(['@podserve/runtime/tls', '@podserve/runtime/daemon']);

/** In a service bundle, the runtime is the one main.js already loaded. */
const runtimeFromMain = {
  name: 'runtime-from-main',
  setup(b) {
    // Except runtime/tls (the certificate consumer and follower) and runtime/daemon (what
    // daemon services share): they hold no state of the runtime's, and only services load
    // them, so they are bundled with those rather than parsed by every process in main.js.
    // runtime/daemon takes BaseService through '@podserve/runtime', so it still gets main's.
    b.onResolve({ filter: /^@podserve\/runtime(\/.*)?$/ }, (args) =>
      BUNDLED_WITH_SERVICES.has(args.path) ? undefined : { path: 'runtime', namespace: 'main-runtime' },
    );
    b.onLoad({ filter: /.*/, namespace: 'main-runtime' }, () => ({
      contents:
        "const runtime = globalThis[Symbol.for('podserve.runtime')];\n" +
        "if (!runtime) throw new Error('PodServe service bundles are loaded by dist/main.js, not run directly');\n" +
        'module.exports = runtime;',
      loader: 'js',
    }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  // Node 20 has \p{…}; lowered, valibot's unused EMOJI_REGEX became a `new RegExp` that
  // survives tree shaking and makes V8 load ICU's property tables at start (~250 KB RSS).
  // A real import() in a CommonJS bundle starts Node's ESM loader and parses the imported
  // bundle with cjs-module-lexer to find its exports: lowered to require(), measured ~2 MB less
  // for a service that loads node:http, node:tls and its own bundle lazily.
  supported: { 'regexp-unicode-property-escapes': true, 'dynamic-import': false },
  format: 'cjs',
  // Sources are ESM and locate files beside themselves with import.meta.url.
  banner: { js: "const __podserveMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { __PODSERVE_VERSION__: JSON.stringify(version), 'import.meta.url': '__podserveMetaUrl' },
  legalComments: 'none',
  // The source text stays in memory for the life of the process: whitespace and syntax
  // minification halve it; identifiers are not minified, so stack traces still name functions.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: false,
  logLevel: 'warning',
};

const started = performance.now();
rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, 'services'), { recursive: true });
writeFileSync(join(dist, 'package.json'), '{ "type": "commonjs" }\n');
await build({
  ...common,
  entryPoints: [join(root, 'packages/cli/src/main.ts')],
  outfile: join(dist, 'main.js'),
  plugins: [withoutPinoTransports, servicesAsSeparateBundles, prettyAsSeparateBundle],
});
await build({
  ...common,
  entryPoints: [join(root, 'node_modules/pino-pretty/index.js')],
  outfile: join(dist, 'pretty.js'),
});
for (const [pkg, name] of Object.entries(SERVICES)) {
  await build({
    ...common,
    entryPoints: [join(root, 'packages', pkg.split('/')[1], 'src/index.ts')],
    outfile: join(dist, 'services', `${name}.js`),
    plugins: [runtimeFromMain],
  });
}

// The native pieces, found beside main.js at run time (packages/reaper/src/index.ts).
for (const name of ['reaper.node', 'podserve-setuid']) {
  const built = join(root, 'packages/reaper/build/Release', name);
  if (!existsSync(built)) {
    console.error(`bundle: ${built} is missing; run "npm run build" (it compiles the native reaper first)`);
    process.exit(1);
  }
  copyFileSync(built, join(dist, name));
}
chmodSync(join(dist, 'podserve-setuid'), 0o755);
const kb = (f) => `${Math.round(statSync(f).size / 1024)} KiB`;
const serviceSizes = Object.values(SERVICES).map((n) => `services/${n}.js (${kb(join(dist, 'services', `${n}.js`))})`);
console.log(
  `bundle: dist/main.js (${kb(join(dist, 'main.js'))}), ${serviceSizes.join(', ')}, pretty.js, reaper.node, podserve-setuid in ${Math.round(performance.now() - started)} ms`,
);
