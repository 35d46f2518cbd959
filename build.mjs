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
  external: ['blessed', 'blessed-contrib',
    // koffi carries native binaries; it loads from node_modules, and only for the kernel tier.
    'koffi'],
  logLevel: 'warning',
});

// V8's code cache for the launcher (bin/ktap): one short run compiles what start-up needs.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
rmSync('dist/ktap.cache', { force: true });
spawnSync(process.execPath, ['bin/ktap', '-e', 'print(1)'], {
  env: { ...process.env, KTAP_WRITE_CODE_CACHE: '1' },
  stdio: 'ignore',
});
