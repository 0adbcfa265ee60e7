// What the cache folder promises against a hostile or careless user: only a cache (or an empty or
// new folder) is used as one; gc and verify --repair remove only names the store makes; paths read
// back from the cache never leave it; gc and run exclude each other; a marker of another host is
// never taken for dead by its pid; a corrupt ref stops gc; an unusable cache is a clear error.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { canonicalJson } from '../../src/cache/canonical.ts';
import { collectGarbage } from '../../src/cache/gc.ts';
import { hashBytes } from '../../src/cache/hash.ts';
import { HOST } from '../../src/cache/liveness.ts';
import { tryLock } from '../../src/cache/lock.ts';
import { CacheStore } from '../../src/cache/store.ts';
import { waitFor } from '../helpers/process.ts';
import { cli, makeWorkspace, runJson, startCli, type Workspace } from '../helpers/workspace.ts';

const PIPELINE = 'stages:\n  a:\n    cmd: echo hi > a.txt\n    outs: [a.txt]\n';

/** a → b: b reads a's output tree (materialized from the cache). */
const CHAIN = `stages:
  a:
    cmd: echo alpha > a.txt
    outs: [a.txt]
  b:
    cmd: (cat a.txt; echo beta) > b.txt
    deps: [a.txt]
    outs: [b.txt]
`;

function listAll(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

function refOf(ws: Workspace): {
  path: string;
  ref: { stages: Record<string, { key: string; tree: string }> };
} {
  const name = readdirSync(ws.path('cache/refs'))[0]!;
  const path = ws.path(`cache/refs/${name}`);
  return { path, ref: JSON.parse(readFileSync(path, 'utf8')) };
}

function recordPath(ws: Workspace, key: string): string {
  return ws.path(`cache/actions/${key.slice(0, 2)}/${key}.json`);
}

/**
 * Replaces stage `stage`'s output tree by a manifest that lists `path` for its (real, intact)
 * object, correctly hashed and stored, as anyone who can write a shared cache could do.
 */
async function plantManifest(ws: Workspace, stage: string, ...paths: string[]): Promise<string> {
  const { key } = refOf(ws).ref.stages[stage]!;
  const record = JSON.parse(readFileSync(recordPath(ws, key), 'utf8'));
  const old = JSON.parse(
    readFileSync(ws.path(`cache/objects/${record.output.tree.slice(0, 2)}/${record.output.tree}`), 'utf8'),
  );
  const manifest = { format: 1, files: paths.map((path) => ({ ...old.files[0], path })), dirs: [] };
  const bytes = canonicalJson(manifest);
  const tree = await hashBytes(bytes);
  mkdirSync(ws.path(`cache/objects/${tree.slice(0, 2)}`), { recursive: true });
  writeFileSync(ws.path(`cache/objects/${tree.slice(0, 2)}/${tree}`), bytes);
  record.output.tree = tree;
  writeFileSync(recordPath(ws, key), JSON.stringify(record));
  // The ref names the tree too (runs/ and compare materialize it).
  const { path: refPath, ref } = refOf(ws);
  ref.stages[stage]!.tree = tree;
  writeFileSync(refPath, JSON.stringify(ref));
  rmSync(ws.path('cache/trees'), { recursive: true, force: true });
  return tree;
}

describe('only a cache is used as a cache', () => {
  test("gc --cache . in a project refuses and leaves the user's tmp/ and logs/ alone", async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': PIPELINE,
      'tmp/notes.txt': 'notes\n',
      'logs/train.log': 'log\n',
    });
    try {
      const before = listAll(ws.dir);
      for (const args of [
        ['gc', '--cache', '.'],
        ['verify', '--repair', '--cache', '.'],
        ['run', '--cache', '.'],
      ]) {
        const r = await cli(ws.dir, args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(
          r.stderr,
          /error E_CACHE_NOT_A_CACHE\n {2}\/.* is not a gpt2o-pipe cache: it has no FORMAT marker and is not empty/,
        );
        assert.doesNotMatch(r.stderr, /internal error/);
      }
      assert.deepEqual(listAll(ws.dir), before, 'nothing was written or removed');
      assert.equal(ws.read('tmp/notes.txt'), 'notes\n');
      assert.equal(ws.read('logs/train.log'), 'log\n');
    } finally {
      ws.remove();
    }
  });

  test('run --cache at a home-like folder with files writes nothing there (no CACHEDIR.TAG)', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': PIPELINE,
      'home/.bashrc': 'x\n',
      'home/docs/cv.txt': 'cv\n',
    });
    try {
      for (const command of ['run', 'status', 'logs', 'gc', 'verify', 'compare']) {
        const args = command === 'logs' ? ['logs', 'a'] : [command];
        const r = await cli(ws.dir, [...args, '--cache', 'home']);
        assert.equal(r.code, 2, `${command}: ${r.stderr}`);
        assert.match(r.stderr, /E_CACHE_NOT_A_CACHE/, command);
        assert.match(r.stderr, /"\.bashrc"/, command);
      }
      assert.deepEqual(listAll(ws.path('home')), ['.bashrc', 'docs', 'docs/cv.txt']);
    } finally {
      ws.remove();
    }
  });

  test('an empty folder, a new folder and an existing cache are used; another format is refused', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      mkdirSync(ws.path('empty'));
      assert.equal((await runJson(ws.dir, ['--cache', 'empty'])).code, 0);
      assert.equal(readFileSync(ws.path('empty/FORMAT'), 'utf8'), 'gpt2o-cache-v1\n');
      assert.equal((await runJson(ws.dir, ['--cache', 'new/deeper'])).code, 0);
      assert.equal((await runJson(ws.dir, ['--cache', 'empty'])).status.a, 'cached');
      writeFileSync(ws.path('empty/FORMAT'), 'gpt2o-cache-v0\n');
      const r = await cli(ws.dir, ['gc', '--cache', 'empty']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /E_CACHE_FORMAT\n {2}cache .*empty has format "gpt2o-cache-v0"/);
    } finally {
      ws.remove();
    }
  });

  test('gc and verify --repair inside a real cache touch only the names the store makes', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      assert.equal((await runJson(ws.dir)).code, 0);
      const stray = [
        'tmp/notes.txt',
        'logs/train.log',
        'objects/README',
        'trees/mine/x',
        'resume/keep',
        'locks/mine.lock/x',
        'refs/notes.json',
        'notes.txt',
      ];
      for (const rel of stray) ws.write(`cache/${rel}`, 'mine\n');
      // A store name whose owner is dead is still removed (a leftover of a killed run).
      const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
      ws.write(`cache/tmp/${gone}@${HOST}~run-a-xyz/out.txt`, 'half\n');
      const r = await cli(ws.dir, ['gc', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).removed.tmp, 1);
      for (const rel of stray) assert.equal(ws.read(`cache/${rel}`), 'mine\n', rel);
      const repaired = await cli(ws.dir, ['verify', '--repair', '--json']);
      // verify reports what it does not recognise in objects/ and trees/, and moves it aside, never deletes it.
      assert.equal(repaired.code, 1);
      const quarantined = readdirSync(ws.path('cache/quarantine'));
      assert.ok(
        quarantined.some((n) => n.startsWith('README-')) && quarantined.some((n) => n.startsWith('mine-')),
      );
      for (const rel of stray.filter((r) => !/^(objects|trees)\//.test(r)))
        assert.equal(ws.read(`cache/${rel}`), 'mine\n', rel);
    } finally {
      ws.remove();
    }
  });

  test('a symlinked cache folder is used; a symlinked store subfolder is not swept', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': PIPELINE,
      'outside/aa00000000000000000000000000000000.log': 'user\n',
    });
    try {
      mkdirSync(ws.path('real-cache'));
      spawnSync('ln', ['-s', ws.path('real-cache'), ws.path('cache')]);
      assert.equal((await runJson(ws.dir)).code, 0);
      assert.ok(existsSync(ws.path('real-cache/FORMAT')));
      rmSync(ws.path('real-cache/logs'), { recursive: true });
      spawnSync('ln', ['-s', ws.path('outside'), ws.path('real-cache/logs')]);
      assert.equal((await cli(ws.dir, ['gc'])).code, 0);
      assert.equal(ws.read('outside/aa00000000000000000000000000000000.log'), 'user\n');
    } finally {
      ws.remove();
    }
  });
});

describe('paths read from the cache are validated', () => {
  test('a correctly hashed manifest with ../../victim.txt leaves the victim alone; verify reports it', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': CHAIN, 'victim.txt': 'precious\n' });
    try {
      assert.equal((await runJson(ws.dir)).code, 0);
      // trees/<digest>/ and tmp/<staging>/ are both two folders below cache/: ../../../ is the project.
      const tree = await plantManifest(ws, 'a', '../../../victim.txt');
      const r = await runJson(ws.dir);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(ws.read('victim.txt'), 'precious\n');
      assert.match(
        r.stderr,
        new RegExp(
          `warning: cached object .*${tree} \\(the output tree manifest\\) is not a valid manifest \\(file path "\\.\\./\\.\\./\\.\\./victim\\.txt" leaves its folder`,
        ),
      );
      assert.equal(r.status.a, 'ran', 'the stage is recomputed');
      assert.equal(ws.read('runs/pipeline/b/b.txt'), 'alpha\nbeta\n');

      await plantManifest(ws, 'a', '../../../victim.txt');
      const v = await cli(ws.dir, ['verify', '--json']);
      assert.equal(v.code, 1);
      const problems = JSON.parse(v.stdout).problems as { kind: string; reason: string }[];
      assert.ok(
        problems.some((p) => p.kind === 'record' && /leaves its folder/.test(p.reason)),
        v.stdout,
      );
      assert.equal(ws.read('victim.txt'), 'precious\n');
    } finally {
      ws.remove();
    }
  });

  test('an absolute manifest path makes verify finish and report it', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': CHAIN });
    try {
      assert.equal((await runJson(ws.dir)).code, 0);
      const tree = await plantManifest(ws, 'a', '/etc/victim.txt');
      // A materialized tree for it, as an older run would have left.
      mkdirSync(ws.path(`cache/trees/${tree}`), { recursive: true });
      const v = await cli(ws.dir, ['verify', '--json']);
      assert.equal(v.code, 1);
      const problems = JSON.parse(v.stdout).problems as { kind: string; reason: string }[];
      assert.ok(
        problems.some((p) => p.kind === 'tree' && /"\/etc\/victim\.txt" is absolute/.test(p.reason)),
        v.stdout,
      );
    } finally {
      ws.remove();
    }
  });

  test('duplicate paths, a file that is also a folder and a record with a bad tree are corrupt entries', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': CHAIN });
    try {
      assert.equal((await runJson(ws.dir)).code, 0);
      const cases: [string[], RegExp][] = [
        [['a.txt', 'a.txt'], /file "a\.txt" is listed twice/],
        [['a.txt', 'a.txt/x'], /"a\.txt" is listed as a file and holds "a\.txt\/x"/],
        [['./a.txt'], /"\.\/a\.txt" is not normalised/],
        [['a//b'], /"a\/\/b" is not normalised/],
        [['a.txt\0'], /contains a NUL byte/],
        [['..'], /leaves its folder/],
      ];
      for (const [paths, reason] of cases) {
        await plantManifest(ws, 'a', ...paths);
        const r = await runJson(ws.dir);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.status.a, 'ran', paths.join());
        assert.match(r.stderr, /is not a valid manifest/, paths.join());
        assert.match(r.stderr, reason, paths.join());
      }
      // A run record whose output tree is a path instead of a digest.
      const { key } = refOf(ws).ref.stages.a!;
      const record = JSON.parse(readFileSync(recordPath(ws, key), 'utf8'));
      record.output.tree = '../../../../victim';
      writeFileSync(recordPath(ws, key), JSON.stringify(record));
      const r = await runJson(ws.dir);
      assert.equal(r.status.a, 'ran');
      assert.match(r.stderr, /warning: cached run record .* lacks a valid "output.tree" digest/);
    } finally {
      ws.remove();
    }
  });
});

describe('gc and run exclude each other', () => {
  test('a run that starts while gc holds the cache waits, and keeps its record, tree and log', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      mkdirSync(ws.path('cache'));
      const store = CacheStore.open(ws.path('cache'));
      // This process is the gc: it holds the maintenance lock, as `gc` does for its whole run.
      const lock = (await tryLock(join(store.layout.dir('locks'), 'maintenance.lock')))!;
      const started = startCli(ws.dir, ['run', '--json']);
      await waitFor(
        () => /waiting: gc or verify --repair \(pid \d+ on /.test(started.output().stderr),
        'the run to wait for gc',
      );
      // The gc's sweep while the run waits: nothing of the run exists yet to be lost.
      collectGarbage(store, { dryRun: false });
      assert.ok(!existsSync(store.layout.dir('actions')), 'no record yet');
      await lock.release();
      const { code, stdout, stderr } = await started.finished;
      assert.equal(code, 0, stderr);
      assert.equal(JSON.parse(stdout).stages[0].status, 'ran');
      const { key } = refOf(ws).ref.stages.a!;
      assert.ok(existsSync(recordPath(ws, key)));
      assert.ok(existsSync(ws.path(`cache/logs/${key}.log`)));
      assert.equal(ws.read('runs/pipeline/a/a.txt'), 'hi\n');
      assert.equal((await cli(ws.dir, ['verify'])).code, 0);
    } finally {
      ws.remove();
    }
  });

  test('a marker, stage lock or temp folder of another host is not taken for dead by its pid', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      assert.equal((await runJson(ws.dir)).code, 0);
      const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
      const other = 'node-7.cluster';
      const marker = ws.path(`cache/locks/active/${gone}@${other}`);
      writeFileSync(marker, '');
      const busy = await cli(ws.dir, ['gc']);
      assert.equal(busy.code, 2);
      assert.match(
        busy.stderr,
        new RegExp(
          `E_GC_BUSY\\n {2}the cache is in use by a running \`gpt2o-pipe run\` \\(pid ${gone} on node-7\\.cluster\\)`,
        ),
      );
      assert.match(busy.stderr, new RegExp(`remove it: .*${gone}@node-7\\.cluster`));
      // Half an hour without a heartbeat: a crashed node; gc goes ahead (and removes the marker).
      const old = new Date(Date.now() - 31 * 60_000);
      utimesSync(marker, old, old);

      const lock = ws.path(`cache/locks/${'ab'.repeat(16)}.lock`);
      mkdirSync(lock, { recursive: true });
      writeFileSync(
        join(lock, 'owner.json'),
        JSON.stringify({ pid: gone, host: other, token: 't', since: '' }),
      );
      const staging = ws.path(`cache/tmp/${gone}@${other}~run-a-xyz`);
      mkdirSync(staging, { recursive: true });
      const r = await cli(ws.dir, ['gc', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).removed.locks, 0);
      assert.equal(JSON.parse(r.stdout).removed.tmp, 0);
      assert.ok(existsSync(lock) && existsSync(staging));
      assert.ok(!existsSync(marker));

      utimesSync(join(lock, 'owner.json'), old, old);
      utimesSync(staging, old, old);
      const later = JSON.parse((await cli(ws.dir, ['gc', '--json'])).stdout);
      assert.deepEqual([later.removed.locks, later.removed.tmp], [1, 1]);
    } finally {
      ws.remove();
    }
  });
});

describe('refs', () => {
  test('a corrupt ref stops gc before it removes anything; verify reports it and --repair moves it aside', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      assert.equal((await runJson(ws.dir)).code, 0);
      const { path, ref } = refOf(ws);
      const key = ref.stages.a!.key;
      writeFileSync(path, '{"specFile": "/x", "stages": {');
      const before = listAll(ws.path('cache'));
      const r = await cli(ws.dir, ['gc']);
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /E_GC_BAD_REF\n {2}gc: the ref .*refs\/[0-9a-f]{20}\.json is not valid JSON; gc removed nothing/,
      );
      assert.match(r.stderr, /verify --repair/);
      assert.deepEqual(listAll(ws.path('cache')), before);
      assert.ok(existsSync(recordPath(ws, key)));

      const v = await cli(ws.dir, ['verify', '--json']);
      assert.equal(v.code, 1);
      assert.deepEqual(
        JSON.parse(v.stdout).problems.map((p: { kind: string; path: string; reason: string }) => [
          p.kind,
          p.path,
          p.reason,
        ]),
        [['ref', path, 'is not valid JSON']],
      );
      assert.equal((await cli(ws.dir, ['verify', '--repair'])).code, 1);
      assert.equal((await cli(ws.dir, ['verify'])).code, 0);
      assert.equal((await cli(ws.dir, ['gc'])).code, 0);
    } finally {
      ws.remove();
    }
  });

  test('a ref naming a missing record, or with a stage key that is a path, is reported', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      assert.equal((await runJson(ws.dir)).code, 0);
      const { path, ref } = refOf(ws);
      const key = ref.stages.a!.key;
      rmSync(recordPath(ws, key));
      const v = JSON.parse((await cli(ws.dir, ['verify', '--json'])).stdout);
      assert.deepEqual(
        v.problems.map((p: { kind: string; reason: string }) => [p.kind, p.reason]),
        [['ref', `stage "a" of experiment "pipeline" names run record ${key}, which is not in the cache`]],
      );
      ref.stages.a!.key = '../../../../etc/passwd';
      writeFileSync(path, JSON.stringify(ref));
      const bad = JSON.parse((await cli(ws.dir, ['verify', '--json'])).stdout);
      assert.match(bad.problems[0].reason, /has stage "a" without a valid key and tree digest/);
      // logs ignores the unusable ref (it finds the stage's log by its current key).
      const logs = await cli(ws.dir, ['logs', 'a']);
      assert.equal(logs.code, 0, logs.stderr);
      assert.doesNotMatch(logs.stdout + logs.stderr, /root:/);
    } finally {
      ws.remove();
    }
  });
});

describe('an unusable cache is a clear error', () => {
  test('a file where the cache folder should be is named by every command', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE, cache: 'not a folder\n' });
    try {
      for (const args of [
        ['run'],
        ['status'],
        ['logs', 'a'],
        ['gc'],
        ['verify'],
        ['compare'],
        ['run', '--cache', 'cache/sub'],
      ]) {
        const r = await cli(ws.dir, args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(
          r.stderr,
          /error E_CACHE_(NOT_A_CACHE|UNUSABLE)\n {2}the cache (path )?\/.*cache(\/sub)? (is a file, not a folder|has a file where a folder should be)/,
          args.join(' '),
        );
      }
      assert.equal(ws.read('cache'), 'not a folder\n');
    } finally {
      ws.remove();
    }
  });

  test('a read-only cache: run names it; status, logs and verify still read it', async (t: TestContext) => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    const mounted = () => spawnSync('mountpoint', ['-q', ws.path('cache')]).status === 0;
    try {
      assert.equal((await runJson(ws.dir)).code, 0);
      const ok =
        spawnSync('mount', ['--bind', ws.path('cache'), ws.path('cache')]).status === 0 &&
        spawnSync('mount', ['-o', 'remount,bind,ro', ws.path('cache')]).status === 0;
      if (!ok) {
        t.skip('cannot make a read-only bind mount here (needs root / CAP_SYS_ADMIN)');
        return;
      }
      const r = await cli(ws.dir, ['run', '--force', 'a']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /error E_CACHE_UNUSABLE\n {2}the cache \/.*cache is on a read-only file system/);
      const gc = await cli(ws.dir, ['gc']);
      assert.match(gc.stderr, /E_CACHE_UNUSABLE\n {2}the cache \/.*cache is on a read-only file system/);
      assert.equal((await cli(ws.dir, ['status'])).code, 0);
      assert.equal((await cli(ws.dir, ['logs', 'a'])).code, 0);
      assert.equal((await cli(ws.dir, ['verify'])).code, 0);
    } finally {
      if (mounted()) spawnSync('umount', [ws.path('cache')]);
      ws.remove();
    }
  });
});

describe('gc usage', () => {
  test('stray arguments are a usage error', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE });
    try {
      const r = await cli(ws.dir, ['gc', 'everything']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /E_USAGE\n {2}gc takes no arguments, got "everything"/);
    } finally {
      ws.remove();
    }
  });

  test('gc in a subfolder uses the project cache and makes no cache/ there; outside a project it refuses', async () => {
    const ws = makeWorkspace({ 'pipeline.yaml': PIPELINE, 'data/raw/x.txt': 'x\n' });
    try {
      assert.equal((await runJson(ws.dir)).code, 0);
      const sub = ws.path('data/raw');
      const r = await cli(sub, ['gc', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).keptRecords, 1);
      assert.deepEqual(readdirSync(sub), ['x.txt']);
      const status = await cli(sub, ['status']);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /1\/1 stages up to date/);
      assert.deepEqual(readdirSync(sub), ['x.txt']);

      rmSync(ws.path('pipeline.yaml'));
      const outside = await cli(sub, ['gc']);
      assert.equal(outside.code, 2);
      assert.match(
        outside.stderr,
        /E_NO_PROJECT\n {2}no pipeline.yaml in .*data\/raw or any folder above it/,
      );
      assert.deepEqual(readdirSync(sub), ['x.txt']);
      assert.ok(statSync(ws.path('cache')).isDirectory());
    } finally {
      ws.remove();
    }
  });
});
