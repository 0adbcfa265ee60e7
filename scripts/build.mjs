// Bundles the CLI into dist/ with esbuild. Start-up time is a feature of a build tool (a fully cached
// `run` must beat Snakemake's no-op by 2-5x), and one bundled file loads far faster than hundreds of
// node_modules files. Lazy `import()`s (stages, execa, listr2) become separate chunks that load on use.
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

// Start clean: chunk names carry content hashes, so stale chunks would pile up.
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

await build({
  // Worker threads need a file of their own; the stage (or the command pool) finds it beside its chunk.
  entryPoints: {
    cli: 'src/cli/bin.ts',
    'command-worker': 'src/run/command-worker.ts',
    'resample-worker': 'stages/audio/resample-worker.ts',
    'grad-worker': 'stages/model/grad-worker.ts',
  },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  minifySyntax: true,
  // Native addons and optional heavy runtimes load from node_modules at run time.
  external: ['onnxruntime-node', '@tensorflow/*'],
  // Some bundled dependencies are CommonJS and call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __gpt2oRequire } from 'node:module'; const require = __gpt2oRequire(import.meta.url);",
  },
  define: { __GPT2O_VERSION__: JSON.stringify(pkg.version) },
  logLevel: 'warning',
});

// WebAssembly the stages load at run time, beside their chunks (see the loaders for the source paths).
copyFileSync(
  new URL('../stages/audio/mpg123/mpg123.wasm', import.meta.url),
  new URL('../dist/mpg123.wasm', import.meta.url),
);
