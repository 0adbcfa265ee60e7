// Builds dist/: the CLI as one CommonJS bundle with a V8 code cache beside it, the worker threads'
// bundles, and the WebAssembly the stages load.
//
// Start-up time is a feature of a build tool (a fully cached `run` must beat Snakemake's no-op by
// 2-5x). Measured on a no-op `run` of 7 stages (CPU time, 15 interleaved runs): Node alone is about
// 60 ms; on top of it, loading our code as 12 ES module chunks took about 25 ms (module resolution,
// linking and compiling 330 KB), and more, smaller chunks made it worse. One CommonJS bundle run
// through V8's code cache skips the ES module loader and nearly all compiling: 108 → 92 ms. See
// bin/gpt2o-pipe.js for how the cache is used and when it is not.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const BUILD_PLACEHOLDER = `// gpt2o-pipe build ${'0'.repeat(32)}`;

const common = {
  absWorkingDir: root,
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  minifySyntax: true,
  // Native addons and optional heavy runtimes load from node_modules when a stage needs them.
  external: ['onnxruntime-node', '@tensorflow/*'],
  define: { __GPT2O_VERSION__: JSON.stringify(pkg.version) },
  logLevel: 'warning',
};

// Start clean: a stale file in dist/ would be loaded by nothing, but shipped.
rmSync(dist, { recursive: true, force: true });

// The CLI and every stage in one file. Stage modules stay lazy: a module reached only through
// `import()` is wrapped and runs on its first import, and its libraries (onnxruntime-node,
// TensorFlow.js) load from node_modules then. `import()` becomes require(); `import.meta.url` is
// the bundle's own URL (workers and .wasm files are found beside it).
await build({
  ...common,
  entryPoints: { cli: 'src/cli/bin.ts' },
  outExtension: { '.js': '.cjs' },
  outdir: dist,
  format: 'cjs',
  supported: { 'dynamic-import': false },
  inject: [join(root, 'scripts/import-meta-url-shim.js')],
  // A line the digest replaces once the bundle is written (stampBuild): same length, so the
  // source map still lines up.
  banner: { js: BUILD_PLACEHOLDER },
  define: { ...common.define, 'import.meta.url': '__gpt2oImportMetaUrl' },
});

// Worker threads start from files of their own, found beside the CLI (stages/lib/workers.ts,
// src/run/command-pool.ts and src/cache/tree-thread.ts).
await build({
  ...common,
  entryPoints: {
    'command-worker': 'src/run/command-worker.ts',
    'tree-worker': 'src/cache/tree-worker.ts',
    'resample-worker': 'stages/audio/resample-worker.ts',
    'grad-worker': 'stages/model/grad-worker.ts',
  },
  outdir: dist,
  format: 'esm',
  // Some bundled dependencies are CommonJS and call require() for Node built-ins.
  banner: {
    js: "import { createRequire as __gpt2oRequire } from 'node:module'; const require = __gpt2oRequire(import.meta.url);",
  },
});

// WebAssembly the stages load at run time, beside the bundles (see the loaders for the source paths).
copyFileSync(join(root, 'stages/audio/mpg123/mpg123.wasm'), join(dist, 'mpg123.wasm'));

stampBuild(join(dist, 'cli.cjs'));
try {
  writeCodeCache();
} catch (error) {
  // The cache only speeds up start-up; a machine where the warm-up cannot run still gets a CLI.
  process.stderr.write(`build: no code cache (start-up will compile the bundle): ${error.message}\n`);
}

/**
 * Puts the bundle's digest on its first line. The code cache carries the same digest, and the
 * loader uses a cache only for the bundle it was made from: V8's own check looks at the source's
 * length, not its bytes.
 */
function stampBuild(bundle) {
  const text = readFileSync(bundle, 'utf8');
  if (!text.startsWith(`${BUILD_PLACEHOLDER}\n`))
    throw new Error('build: the bundle does not start with its stamp line');
  const digest = createHash('sha256').update(text).digest('hex').slice(0, 32);
  writeFileSync(bundle, text.replace(BUILD_PLACEHOLDER, `// gpt2o-pipe build ${digest}`));
}

/**
 * Makes dist/cli.cjs.cache: a tiny pipeline is run once, then again fully cached with
 * GPT2O_WRITE_CODE_CACHE set, so the cache holds the code that start-up, planning, `run` and
 * `status` compile. Everything it touches stays in a temp folder (cache, spec parse memo).
 */
function writeCodeCache() {
  const project = mkdtempSync(join(tmpdir(), 'gpt2o-pipe-build-'));
  try {
    writeFileSync(
      join(project, 'pipeline.yaml'),
      [
        'params: {greeting: hello}',
        'stages:',
        '  make: {cmd: "echo ${greeting} > a.txt", outs: [a.txt]}',
        '  use: {cmd: "cat a.txt > b.txt", deps: [a.txt], outs: [b.txt]}',
        '',
      ].join('\n'),
    );
    const env = { ...process.env, CI: '1', XDG_CACHE_HOME: join(project, 'xdg') };
    delete env.GPT2O_CACHE;
    const cli = (args, extra = {}) => {
      const result = spawnSync(process.execPath, [join(root, 'bin', 'gpt2o-pipe.js'), ...args], {
        cwd: project,
        env: { ...env, ...extra },
        encoding: 'utf8',
      });
      if (result.status !== 0)
        throw new Error(`build: warm-up \`gpt2o-pipe ${args.join(' ')}\` failed:\n${result.stderr}`);
    };
    cli(['run']);
    cli(['status']);
    cli(['run'], { GPT2O_WRITE_CODE_CACHE: '1' });
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
}
