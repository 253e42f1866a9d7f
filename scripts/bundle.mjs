// Bundles the CLI and everything it imports into one ESM file, dist/main.js, which every
// image runs. The native reaper is copied beside it: images get no node_modules.
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const outfile = join(root, 'dist/main.js');
mkdirSync(dirname(outfile), { recursive: true });

const started = performance.now();
await build({
  entryPoints: [join(root, 'packages/cli/src/main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // CommonJS dependencies (pino) call require() for Node built-ins; give the ESM bundle one.
  banner: {
    js: "import { createRequire as __podserveCreateRequire } from 'node:module'; const require = __podserveCreateRequire(import.meta.url);",
  },
  define: { __PODSERVE_VERSION__: JSON.stringify(version) },
  legalComments: 'none',
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
