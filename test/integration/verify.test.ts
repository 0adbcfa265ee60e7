// Trust in the cache: `verify` finds corrupt objects, broken records and trees and repairs them;
// `run` never serves a corrupt object; a full disk fails cleanly; concurrent runs compute each key
// once; `status` shows a stage's warnings.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { hashBytes } from '../../src/cache/hash.ts';
import { HOST } from '../../src/cache/liveness.ts';
import { cli, countLines, execCli, makeWorkspace, runJson, type Workspace } from '../helpers/workspace.ts';

interface VerifyJson {
  ok: boolean;
  objects: number;
  records: number;
  trees: number;
  bytes: number;
  problems: { kind: string; path: string; digest: string | null; reason: string }[];
  repaired: { quarantined: number; records: number; trees: number; refs: number };
}

async function verify(ws: Workspace, ...args: string[]): Promise<{ code: number; json: VerifyJson }> {
  const r = await cli(ws.dir, ['verify', '--json', ...args]);
  try {
    return { code: r.code, json: JSON.parse(r.stdout) as VerifyJson };
  } catch {
    throw new Error(`verify --json printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** a → b → c, each writing one file and appending its name to a counter file. */
function chain(ws: Workspace): void {
  ws.write(
    'pipeline.yaml',
    `params: {counter: ${ws.path('counter.txt')}}
stages:
  a:
    cmd: echo a >> \${counter} && echo alpha > a.txt
    outs: [a.txt]
  b:
    cmd: echo b >> \${counter} && (cat a.txt; echo beta) > b.txt
    deps: [a.txt]
    outs: [b.txt]
  c:
    cmd: echo c >> \${counter} && (cat b.txt; echo gamma) > c.txt
    deps: [b.txt]
    outs: [c.txt]
`,
  );
}

async function builtChain(): Promise<Workspace> {
  const ws = makeWorkspace({});
  chain(ws);
  const first = await runJson(ws.dir);
  assert.equal(first.code, 0, first.stderr);
  return ws;
}

/** The run record path of a stage's latest run, and the object of its (single) output file. */
function stageFiles(ws: Workspace, stage: string): { record: string; digest: string; object: string } {
  const ref = readdirSync(ws.path('cache/refs'))
    .map((n) => JSON.parse(readFileSync(ws.path(`cache/refs/${n}`), 'utf8')))
    .find((r) => r.experiment === 'pipeline');
  const key = ref.stages[stage].key as string;
  const record = ws.path(`cache/actions/${key.slice(0, 2)}/${key}.json`);
  const tree = JSON.parse(readFileSync(record, 'utf8')).output.tree as string;
  const manifest = JSON.parse(readFileSync(ws.path(`cache/objects/${tree.slice(0, 2)}/${tree}`), 'utf8'));
  const digest = manifest.files[0].digest as string;
  return { record, digest, object: ws.path(`cache/objects/${digest.slice(0, 2)}/${digest}`) };
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

describe('verify and integrity on read', () => {
  test('a clean cache verifies ok with the right counts', async () => {
    const ws = await builtChain();
    try {
      const { code, json } = await verify(ws);
      assert.equal(code, 0);
      assert.equal(json.ok, true);
      assert.deepEqual(json.problems, []);
      // Three output files and three manifests; three run records; three materialized trees.
      const objects = filesUnder(ws.path('cache/objects'));
      assert.equal(objects.length, 6);
      assert.equal(json.objects, 6);
      assert.equal(json.records, 3);
      assert.equal(json.trees, 3);
      assert.equal(
        json.bytes,
        objects.reduce((n, f) => n + statSync(f).size, 0),
      );
      assert.deepEqual(json.repaired, { quarantined: 0, records: 0, trees: 0, refs: 0 });
      const human = await cli(ws.dir, ['verify']);
      assert.equal(human.code, 0);
      assert.match(human.stdout, /6 objects .*3 run records, 3 trees .*: ok/);
    } finally {
      ws.remove();
    }
  });

  test('a flipped byte is found by verify, and run recomputes the stage instead of serving it', async () => {
    const ws = await builtChain();
    try {
      const { digest, object } = stageFiles(ws, 'b');
      // Objects are read-only (0444): make it writable, flip one byte, same size.
      chmodSync(object, 0o644);
      const bytes = readFileSync(object);
      bytes[0] = bytes[0]! ^ 0x01;
      writeFileSync(object, bytes);

      const { code, json } = await verify(ws);
      assert.equal(code, 1);
      assert.equal(json.ok, false);
      const problem = json.problems.find((p) => p.kind === 'object');
      assert.ok(problem, JSON.stringify(json.problems));
      assert.equal(problem.path, object);
      assert.equal(problem.digest, digest);
      assert.match(problem.reason, /corrupt/);
      const human = await cli(ws.dir, ['verify']);
      assert.equal(human.code, 1);
      assert.ok(human.stdout.includes(`cache/objects/${digest.slice(0, 2)}/${digest}`), human.stdout);

      const rerun = await runJson(ws.dir);
      assert.equal(rerun.code, 0, rerun.stderr);
      assert.deepEqual(rerun.status, { a: 'cached', b: 'ran', c: 'cached' });
      assert.match(rerun.stderr, new RegExp(`warning: cached object .*${digest}.* is corrupt`));
      assert.equal(countLines(ws.path('counter.txt'), 'b'), 2);
      assert.equal(countLines(ws.path('counter.txt'), 'a'), 1);
      assert.equal(ws.read('runs/pipeline/b/b.txt'), 'alpha\nbeta\n');
      assert.equal(readFileSync(object, 'utf8'), 'alpha\nbeta\n');
      assert.equal((await verify(ws)).json.ok, true);
    } finally {
      ws.remove();
    }
  });

  test('a deleted object is reported for the record that needs it; --repair drops that record', async () => {
    const ws = await builtChain();
    try {
      const { record, digest, object } = stageFiles(ws, 'c');
      rmSync(object);
      const { code, json } = await verify(ws);
      assert.equal(code, 1);
      assert.deepEqual(
        json.problems.map((p) => [p.kind, p.path, p.digest]),
        [['record', record, digest]],
      );
      assert.match(json.problems[0]!.reason, /missing/);

      const repaired = await verify(ws, '--repair');
      assert.equal(repaired.code, 1, 'problems were found (and repaired)');
      assert.deepEqual(repaired.json.repaired, { quarantined: 0, records: 1, trees: 0, refs: 1 });
      assert.equal(existsSync(record), false);

      const rerun = await runJson(ws.dir);
      assert.deepEqual(rerun.status, { a: 'cached', b: 'cached', c: 'ran' });
      assert.deepEqual(
        ['a', 'b', 'c'].map((s) => countLines(ws.path('counter.txt'), s)),
        [1, 1, 2],
      );
      assert.equal(ws.read('runs/pipeline/c/c.txt'), 'alpha\nbeta\ngamma\n');
      const after = await verify(ws);
      assert.equal(after.code, 0, JSON.stringify(after.json.problems));
    } finally {
      ws.remove();
    }
  });

  test('--repair quarantines a corrupt object and drops its record and tree; the next verify is clean', async () => {
    const ws = await builtChain();
    try {
      const { record, digest, object } = stageFiles(ws, 'a');
      chmodSync(object, 0o644);
      writeFileSync(object, 'ALPHA\n'); // same size, other bytes
      const repaired = await verify(ws, '--repair');
      assert.equal(repaired.code, 1);
      assert.deepEqual(repaired.json.repaired, { quarantined: 1, records: 1, trees: 1, refs: 1 });
      assert.deepEqual(
        repaired.json.problems.map((p) => p.kind),
        ['object', 'record', 'tree'],
      );
      assert.equal(existsSync(object), false);
      assert.equal(existsSync(record), false);
      const kept = readdirSync(ws.path('cache/quarantine'));
      assert.equal(kept.length, 1);
      assert.ok(kept[0]!.startsWith(`${digest}-`));
      assert.equal(readFileSync(ws.path(`cache/quarantine/${kept[0]}`), 'utf8'), 'ALPHA\n');
      assert.equal((await verify(ws)).code, 0);

      // a reruns and writes the same bytes: b and c stay cached (early cutoff).
      const rerun = await runJson(ws.dir);
      assert.deepEqual(rerun.status, { a: 'ran', b: 'cached', c: 'cached' });
      assert.equal(ws.read('runs/pipeline/a/a.txt'), 'alpha\n');
      assert.equal((await verify(ws)).code, 0);
    } finally {
      ws.remove();
    }
  });

  test('a truncated run record is reported and --repair removes it', async () => {
    const ws = await builtChain();
    try {
      const { record } = stageFiles(ws, 'b');
      truncateSync(record, Math.floor(statSync(record).size / 2));
      const { code, json } = await verify(ws);
      assert.equal(code, 1);
      assert.equal(json.problems.length, 1);
      assert.deepEqual([json.problems[0]!.kind, json.problems[0]!.path], ['record', record]);
      assert.match(json.problems[0]!.reason, /not valid JSON/);

      const repaired = await verify(ws, '--repair');
      assert.deepEqual(repaired.json.repaired, { quarantined: 0, records: 1, trees: 0, refs: 1 });
      assert.equal(existsSync(record), false);
      assert.equal((await verify(ws)).code, 0);
      const rerun = await runJson(ws.dir);
      assert.deepEqual(rerun.status, { a: 'cached', b: 'ran', c: 'cached' });
    } finally {
      ws.remove();
    }
  });

  test("a tree's files are checked one by one: a copy with other bytes, an extra file, a link to a corrupt object", async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  three:
    cmd: mkdir out && echo one > out/a.txt && echo two > out/b.txt && echo six > out/c.txt
    outs: [out]
`,
    });
    try {
      assert.equal((await runJson(ws.dir)).code, 0);
      const [tree] = readdirSync(ws.path('cache/trees'));
      const folder = ws.path(`cache/trees/${tree}/out`);
      const manifest = JSON.parse(
        readFileSync(ws.path(`cache/objects/${tree!.slice(0, 2)}/${tree}`), 'utf8'),
      );
      const digestOf = (rel: string) =>
        manifest.files.find((f: { path: string }) => f.path === rel).digest as string;
      // b.txt: another inode with other bytes (same size) renamed over the tree's file.
      writeFileSync(join(folder, 'new.tmp'), 'TWO\n');
      renameSync(join(folder, 'new.tmp'), join(folder, 'b.txt'));
      writeFileSync(join(folder, 'extra.txt'), 'x\n');
      // c.txt: its object rewritten in place (the tree's file is that inode).
      const c = digestOf('out/c.txt');
      const object = ws.path(`cache/objects/${c.slice(0, 2)}/${c}`);
      chmodSync(object, 0o644);
      writeFileSync(object, 'SIX\n');

      const { code, json } = await verify(ws);
      assert.equal(code, 1);
      const reasons = json.problems.map((p) => `${p.kind}: ${p.reason}`).sort();
      assert.deepEqual(reasons, [
        `object: is corrupt: its content hashes to ${await hashBytes('SIX\n')}`,
        `record: object ${c} of output file "out/c.txt" is corrupt`,
        'tree: extra file "out/extra.txt" (not in the manifest)',
        `tree: file "out/b.txt" is corrupt: its content hashes to ${await hashBytes('TWO\n')}, not ${digestOf('out/b.txt')}`,
        `tree: file "out/c.txt" is a link to corrupt object ${c}`,
      ]);
      assert.ok(!reasons.some((r) => r.includes('out/a.txt')));
    } finally {
      ws.remove();
    }
  });

  test('--repair is refused while a run is using the cache', async () => {
    const ws = await builtChain();
    const sleeper = spawn('sleep', ['30']);
    try {
      mkdirSync(ws.path('cache/locks/active'), { recursive: true });
      writeFileSync(ws.path(`cache/locks/active/${sleeper.pid}@${HOST}`), '');
      const r = await cli(ws.dir, ['verify', '--repair']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /E_VERIFY_BUSY/);
      // Checking alone only reads: allowed.
      assert.equal((await verify(ws)).code, 0);
    } finally {
      sleeper.kill();
      ws.remove();
    }
  });
});

// ---- a full disk

type DiskMode = 'tmpfs' | 'loop' | 'inject';

interface SmallDisk {
  mode: DiskMode;
  /** Gives the cache room again. */
  grow(): void;
  release(): void;
}

function sh(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

/**
 * A 2 MiB cache folder. Preferred: a real tmpfs (needs root / CAP_SYS_ADMIN, as on this project's
 * machines); else a loop-mounted 2 MiB ext2 image; else, where mounting is not permitted at all,
 * an injected ENOSPC from fs.promises.copyFile (the store's copy of a symlinked output), which
 * covers the storing path in-process but not a command hitting the full disk itself.
 * GPT2O_TEST_DISK_FULL=loop|inject forces a fallback (to exercise it).
 */
function smallDisk(dir: string, scratch: string): SmallDisk {
  mkdirSync(dir, { recursive: true });
  const forced = process.env.GPT2O_TEST_DISK_FULL as DiskMode | undefined;
  if ((forced ?? 'tmpfs') === 'tmpfs' && sh('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir])) {
    return {
      mode: 'tmpfs',
      grow: () => assert.ok(sh('mount', ['-o', 'remount,size=16m', dir]), 'remount failed'),
      release: () => sh('umount', [dir]),
    };
  }
  if (forced !== 'inject') {
    const image = join(scratch, 'disk.img');
    writeFileSync(image, Buffer.alloc(0));
    truncateSync(image, 2 << 20);
    if (sh('mkfs.ext2', ['-q', '-F', image]) && sh('mount', ['-o', 'loop', image, dir])) {
      let mounted = true;
      return {
        mode: 'loop',
        // An ext2 image cannot grow in place: unmount it; the cache folder is then on the big disk.
        grow: () => {
          assert.ok(sh('umount', [dir]));
          mounted = false;
        },
        release: () => {
          if (mounted) sh('umount', [dir]);
        },
      };
    }
  }
  const original = fsp.copyFile;
  fsp.copyFile = async () => {
    throw Object.assign(new Error('ENOSPC: no space left on device, copyfile (injected by the test)'), {
      code: 'ENOSPC',
    });
  };
  syncBuiltinESMExports();
  const restore = () => {
    fsp.copyFile = original;
    syncBuiltinESMExports();
  };
  return { mode: 'inject', grow: restore, release: restore };
}

test('a full cache disk fails the stage with E_CACHE_DISK_FULL, leaves nothing partial, and a later run succeeds', async (t: TestContext) => {
  const ws = makeWorkspace({});
  // 3 MB of project data: a stage whose output is a symlink to it makes the store copy it in.
  writeFileSync(ws.path('data.bin'), Buffer.alloc(3_000_000, 7));
  const disk = smallDisk(ws.path('cache'), ws.dir);
  t.diagnostic(`disk-full mode: ${disk.mode}`);
  // On a real small disk: a command that fills it and then keeps printing, so its log cannot be
  // written either (that once crashed the whole run instead of failing the stage).
  const noisy =
    disk.mode === 'inject'
      ? ''
      : `  noisy:
    cmd: head -c 3000000 /dev/zero > fill.bin; seq 1 30000
    deps: [small.txt]
    outs: [fill.bin]
`;
  ws.write(
    'pipeline.yaml',
    `params: {data: ${ws.path('data.bin')}}
stages:
  small:
    cmd: echo small > small.txt
    outs: [small.txt]
  written:
    cmd: head -c 3000000 /dev/zero > big.bin
    deps: [small.txt]
    outs: [big.bin]
  linked:
    cmd: ln -s \${data} linked.bin
    deps: [small.txt]
    outs: [linked.bin]
${noisy}`,
  );
  try {
    const failed = await runJson(ws.dir, ['--keep-going', '--jobs', '1']);
    assert.equal(failed.code, 1);
    assert.equal(failed.status.small, 'ran');
    assert.equal(failed.status.linked, 'failed');
    // The command writing into the full disk itself: only a real small file system shows it.
    if (disk.mode !== 'inject') {
      assert.equal(failed.status.written, 'failed');
      assert.equal(failed.status.noisy, 'failed');
    }
    const reports = failed.stderr.split('\n').filter((l) => /error E_CACHE_DISK_FULL/.test(l));
    assert.equal(reports.length, disk.mode === 'inject' ? 1 : 3, failed.stderr);
    assert.match(failed.stderr, /error E_CACHE_DISK_FULL \(stage "linked"\)\n .*the cache disk is full/);
    assert.match(failed.stderr, /hint: free space \(gpt2o-pipe gc .*\) or point --cache at a larger disk/);

    // Nothing partial: no temp entry, no run record of the failed stages, every object intact.
    assert.deepEqual(readdirSync(ws.path('cache/tmp')), []);
    const failedKeys = failed.json.stages.filter((s) => s.status === 'failed').map((s) => s.key!);
    for (const key of failedKeys)
      assert.equal(existsSync(ws.path(`cache/actions/${key.slice(0, 2)}/${key}.json`)), false);
    const checked = await verify(ws);
    assert.equal(checked.code, 0, JSON.stringify(checked.json.problems));
    // Run records: small's, and in the inject mode also written's (that command had room).
    assert.equal(checked.json.records, disk.mode === 'inject' ? 2 : 1);

    disk.grow();
    const rerun = await runJson(ws.dir);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.equal(rerun.status.linked, 'ran');
    assert.equal(statSync(ws.path('runs/pipeline/linked/linked.bin')).size, 3_000_000);
    assert.equal(statSync(ws.path('runs/pipeline/written/big.bin')).size, 3_000_000);
    assert.equal((await verify(ws)).code, 0);
  } finally {
    disk.release();
    ws.remove();
  }
});

// ---- four concurrent runs

test('four concurrent runs of overlapping experiments compute every shared key once', async () => {
  const ws = makeWorkspace({});
  const counter = ws.path('counter.txt');
  ws.write(
    'pipeline.yaml',
    `params:
  counter: ${counter}
  data: {n: 4}
  train: {context_length: 8}
stages:
  prepare:
    cmd: echo prepare >> \${counter} && sleep 1 && seq \${data.n} > data.txt
    outs: [data.txt]
  features:
    cmd: echo features >> \${counter} && sleep 0.3 && sed 's/$/!/' data.txt > features.txt
    deps: [data.txt]
    outs: [features.txt]
  train:
    cmd: echo train-\${train.context_length} >> \${counter} && (echo ctx=\${train.context_length}; cat features.txt) > model.txt
    deps: [features.txt]
    outs: [model.txt]
`,
  );
  for (const [name, ctx] of [
    ['a', 16],
    ['b', 32],
    ['c', 64],
    ['d', 16],
  ] as const)
    ws.write(
      `experiments/${name}.yaml`,
      `extends: ../pipeline.yaml\nparams: {train: {context_length: ${ctx}}}\n`,
    );
  try {
    const results = await Promise.all(
      ['a', 'b', 'c', 'd'].map((name) => execCli(ws.dir, ['run', `experiments/${name}.yaml`, '--json'])),
    );
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const lines = readFileSync(counter, 'utf8').trim().split('\n').sort();
    // prepare and features are shared by all four; a and d share their train key too.
    assert.deepEqual(lines, ['features', 'prepare', 'train-16', 'train-32', 'train-64']);
    const statuses = results.map((r) => JSON.parse(r.stdout).stages as { name: string; status: string }[]);
    for (const stage of ['prepare', 'features'])
      assert.equal(statuses.filter((s) => s.find((x) => x.name === stage)?.status === 'ran').length, 1);
    assert.equal(ws.read('runs/c/train/model.txt'), 'ctx=64\n1!\n2!\n3!\n4!\n');
    assert.equal(ws.read('runs/d/train/model.txt'), 'ctx=16\n1!\n2!\n3!\n4!\n');
    assert.deepEqual(
      readdirSync(ws.path('cache/locks')).filter((n) => n.endsWith('.lock') || n.includes('.lock.')),
      [],
    );
    assert.deepEqual(readdirSync(ws.path('cache/locks/active')), []);
    assert.equal((await verify(ws)).code, 0);
  } finally {
    ws.remove();
  }
});

// ---- status shows warnings

test('status lists a cmd stage warning about files written outside its outs', async () => {
  const ws = makeWorkspace({
    'pipeline.yaml': `stages:
  messy:
    cmd: echo kept > kept.txt && echo stray > stray.txt
    outs: [kept.txt]
  tidy:
    cmd: cat kept.txt > tidy.txt
    deps: [kept.txt]
    outs: [tidy.txt]
`,
  });
  try {
    assert.equal((await runJson(ws.dir)).code, 0);
    const human = await cli(ws.dir, ['status', 'pipeline.yaml']);
    assert.equal(human.code, 0);
    assert.match(
      human.stdout,
      /messy\s+up-to-date\n\s+warning: wrote files outside its declared outs \(not kept\): stray\.txt\n.*tidy\s+up-to-date\n/,
    );
    const json = await cli(ws.dir, ['status', 'pipeline.yaml', '--json']);
    const stages = JSON.parse(json.stdout).experiments[0].stages as { name: string; warnings: string[] }[];
    assert.deepEqual(
      stages.map((s) => [s.name, s.warnings]),
      [
        ['messy', ['wrote files outside its declared outs (not kept): stray.txt']],
        ['tidy', []],
      ],
    );
  } finally {
    ws.remove();
  }
});
