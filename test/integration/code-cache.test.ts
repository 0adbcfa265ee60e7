// The entry point's V8 code cache (bin/gpt2o-pipe.js): used when it was made from this very
// bundle, and otherwise ignored without changing what the CLI does. Each case runs a copy of bin/
// and dist/ in a temp folder, so the real build stays untouched while other tests use it.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BIN, makeWorkspace, REPO, type Workspace } from '../helpers/workspace.ts';

let copy: Workspace;
let bin: string;
let cacheFile: string;
let original: Buffer;

before(() => {
  copy = makeWorkspace({});
  cpSync(join(REPO, 'dist'), copy.path('dist'), { recursive: true });
  cpSync(BIN, copy.path('bin/gpt2o-pipe.js'));
  bin = copy.path('bin/gpt2o-pipe.js');
  cacheFile = copy.path('dist/cli.cjs.cache');
  original = readFileSync(cacheFile);
});
after(() => copy.remove());

/** Runs `--version` with the cache report on; returns the version printed and the report line. */
function start(): { version: string; report: string } {
  const result = spawnSync(process.execPath, [bin, '--version'], {
    env: { ...process.env, GPT2O_CODE_CACHE_REPORT: '1' },
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  return { version: result.stdout.trim(), report: result.stderr.trim() };
}

const pkgVersion = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version;

test('the cache the build made is used, and it names the bundle it was made from', () => {
  writeFileSync(cacheFile, original);
  const firstLine = readFileSync(copy.path('dist/cli.cjs'), 'utf8').split('\n', 1)[0];
  assert.match(firstLine!, /^\/\/ gpt2o-pipe build [0-9a-f]{32}$/);
  assert.equal(original.subarray(0, firstLine!.length).toString(), firstLine);
  assert.deepEqual(start(), { version: pkgVersion, report: 'gpt2o-pipe: code cache used' });
});

test('a cache made for another build is not used, and the CLI works the same', () => {
  const other = Buffer.from(original);
  other.write('f'.repeat(32), '// gpt2o-pipe build '.length, 'latin1');
  writeFileSync(cacheFile, other);
  assert.deepEqual(start(), { version: pkgVersion, report: 'gpt2o-pipe: code cache made for another build' });
});

test('a cache cut short (a build stopped while writing it) is refused by V8, and the CLI works the same', () => {
  writeFileSync(cacheFile, original.subarray(0, original.length - 4096));
  assert.deepEqual(start(), { version: pkgVersion, report: 'gpt2o-pipe: code cache refused by V8' });
});

test('without a cache the CLI starts as usual', () => {
  rmSync(cacheFile);
  assert.deepEqual(start(), { version: pkgVersion, report: 'gpt2o-pipe: code cache absent' });
});

test('a copy of the CLI runs a pipeline from its cached code', () => {
  writeFileSync(cacheFile, original);
  const ws = makeWorkspace({
    'pipeline.yaml': 'params: {word: cached}\nstages:\n  a: {cmd: "echo ${word} > a.txt", outs: [a.txt]}\n',
  });
  try {
    const run = () =>
      execFileSync(process.execPath, [bin, 'run', '--json'], {
        cwd: ws.dir,
        env: { ...process.env, CI: '1' },
        encoding: 'utf8',
      });
    assert.equal(JSON.parse(run()).stages[0].status, 'ran');
    assert.equal(JSON.parse(run()).stages[0].status, 'cached');
    assert.equal(readFileSync(join(ws.dir, 'runs', 'pipeline', 'a', 'a.txt'), 'utf8'), 'cached\n');
  } finally {
    ws.remove();
  }
});
