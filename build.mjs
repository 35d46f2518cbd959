// Bundles the CLI into one file so start-up loads a single module (no resolution of
// dozens of files at every run).
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/ktap.js',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: false,
  minify: false,
  legalComments: 'none',
  // The dashboard's libraries read data files next to their own modules, so they load from
  // node_modules at run time, and only when the dashboard opens (src/tui requires them lazily).
  external: ['blessed', 'blessed-contrib'],
  logLevel: 'warning',
});
