// Bundles the CLI and everything it imports into one file, dist/main.js, which every
// image runs. The native reaper is copied beside it: images get no node_modules.
// The bundle is CommonJS (dist/package.json says so): measured, an ESM entry alone
// costs a Node process ~1.9 MB more RSS, and the runtime's budget is 10 % of bare Node.
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const outfile = join(root, 'dist/main.js');
mkdirSync(dirname(outfile), { recursive: true });

writeFileSync(join(root, 'dist/package.json'), '{ "type": "commonjs" }\n');
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
    b.onLoad({ filter: /^assert$/, namespace: 'stub' }, () => ({
      contents: 'module.exports = function assert(value, message) { if (!value) throw new Error(message); };',
      loader: 'js',
    }));
    // pino.js reads os.hostname() at load for its default `base`, which PodServe replaces.
    b.onResolve({ filter: /^(node:)?os$/ }, (args) =>
      /[\\/]pino[\\/]pino\.js$/.test(args.importer) ? { path: 'os', namespace: 'stub' } : undefined,
    );
    b.onLoad({ filter: /^os$/, namespace: 'stub' }, () => ({
      contents: "module.exports = { hostname: () => process.env.HOSTNAME || '' };",
      loader: 'js',
    }));
    b.onLoad({ filter: /^thread-stream$/, namespace: 'stub' }, () => ({
      contents:
        "module.exports = function ThreadStream() { throw new Error('pino transports are not bundled in PodServe'); };",
      loader: 'js',
    }));
    b.onLoad({ filter: /^worker_threads$/, namespace: 'stub' }, () => ({
      contents: 'module.exports = { isMainThread: true };',
      loader: 'js',
    }));
  },
};

const started = performance.now();
await build({
  entryPoints: [join(root, 'packages/cli/src/main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Sources are ESM and locate files beside themselves with import.meta.url.
  banner: { js: "const __podserveMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { __PODSERVE_VERSION__: JSON.stringify(version), 'import.meta.url': '__podserveMetaUrl' },
  legalComments: 'none',
  // The source text stays in memory for the life of the process: whitespace and syntax
  // minification halve it; identifiers are not minified, so stack traces still name functions.
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [withoutPinoTransports],
  sourcemap: false,
  logLevel: 'warning',
});

const addon = join(root, 'packages/reaper/build/Release/reaper.node');
if (!existsSync(addon)) {
  console.error(`bundle: ${addon} is missing; run "npm run build" (it compiles the native reaper first)`);
  process.exit(1);
}
copyFileSync(addon, join(root, 'dist/reaper.node'));
const kb = (f) => `${Math.round(statSync(f).size / 1024)} KiB`;
console.log(
  `bundle: dist/main.js (${kb(outfile)}) and dist/reaper.node (${kb(addon)}) in ${Math.round(performance.now() - started)} ms`,
);
