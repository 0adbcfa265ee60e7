// Outputs with many files: an output with more identical files than the file system allows hard
// links to one inode (ext4: 65,000) is laid out with copies, and a cached run must take those
// copies for what they are, not rebuild the tree every time.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, makeWorkspace, type Workspace } from '../helpers/workspace.ts';

/** The memo of validated files (the test helpers point it at a temp folder), all caches merged. */
function memo(): Record<string, [number, number, number, number, unknown]> {
  const dir = process.env.GPT2O_VALIDATED_CACHE!;
  return Object.assign(
    {},
    ...readdirSync(dir).map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8'))),
  );
}

/** The seal the memo holds for a tree folder, if any. */
function sealOf(ws: Workspace, tree: string): unknown {
  return (memo()[ws.path(join('cache/trees', tree))]?.[4] as { seal?: unknown } | undefined)?.seal;
}

/** The one tree of a workspace's cache. */
function onlyTree(ws: Workspace): string {
  const trees = readdirSync(ws.path('cache/trees'));
  assert.equal(trees.length, 1, `trees: ${trees.join(', ')}`);
  return trees[0]!;
}

/** More empty files than ext4 lets one inode have links (its limit is 65,000). */
const EMPTY_FILES = 65_100;

describe('an output past the hard-link limit', () => {
  const ws = makeWorkspace({
    'pipeline.yaml': `stages:
  empties:
    cmd: mkdir out && cd out && seq 1 ${EMPTY_FILES} | xargs touch && echo end > last.txt
    outs: [out]
`,
  });
  after(() => ws.remove());

  test('a cached run keeps the tree with its copies instead of rebuilding it', async (t) => {
    const first = await cli(ws.dir, ['run', 'pipeline.yaml']);
    assert.equal(first.code, 0, first.stderr);
    const trees = readdirSync(ws.path('cache/trees'));
    assert.equal(trees.length, 1);
    const tree = ws.path(join('cache/trees', trees[0]!, 'out'));
    // The empty object has as many links as the file system allows; the files past that are copies.
    const copy = readdirSync(tree).find((name) => statSync(join(tree, name)).nlink === 1);
    if (copy === undefined) {
      t.skip(`the temp folder's file system allowed ${EMPTY_FILES} links to one file: no copies to check`);
      return;
    }
    const before = statSync(join(tree, copy), { bigint: true });

    const second = await cli(ws.dir, ['run', 'pipeline.yaml']);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /0 ran, 1 cached/);
    const now = statSync(join(tree, copy), { bigint: true });
    // Rebuilt, the tree would hold a new copy: another inode, or at least a later ctime.
    assert.deepEqual([now.ino, now.ctimeNs], [before.ino, before.ctimeNs], 'the tree was rebuilt');
    assert.equal(readFileSync(join(tree, copy), 'utf8'), '');
    assert.equal(readFileSync(ws.path('runs/pipeline/empties/out/last.txt'), 'utf8'), 'end\n');
    assert.equal(readdirSync(ws.path('runs/pipeline/empties/out')).length, EMPTY_FILES + 1);
  });
});

describe('a tree checked through its own folder', () => {
  const ws = makeWorkspace({
    'pipeline.yaml': `stages:
  three:
    cmd: mkdir out && echo one > out/a.txt && echo two > out/b.txt && echo six > out/c.txt
    outs: [out]
`,
  });
  after(() => ws.remove());

  test('still catches a rewrite in place that keeps the size and the mtime', async () => {
    assert.equal((await cli(ws.dir, ['run', 'pipeline.yaml'])).code, 0);
    // The stat cache takes no file changed in the last 2 s: wait, so the next run records every
    // object, and the one after that checks the tree file by file through its folder.
    await sleep(2100);
    for (let i = 0; i < 2; i++)
      assert.match((await cli(ws.dir, ['run', 'pipeline.yaml'])).stdout, /0 ran, 1 cached/);
    // A tree this small is checked file by file (only big ones are sealed: see "a sealed tree").
    assert.equal(sealOf(ws, onlyTree(ws)), undefined);

    // As root could: write through the tree's link (the object's inode), same size, mtime put back.
    // touch keeps nanoseconds (utimes from Node would not), so only the ctime tells.
    const file = ws.path('runs/pipeline/three/out/b.txt');
    const before = statSync(file, { bigint: true });
    const ns = before.mtimeNs % 1_000_000_000n;
    const stamp = `@${before.mtimeNs / 1_000_000_000n}.${ns.toString().padStart(9, '0')}`;
    chmodSync(file, 0o644);
    writeFileSync(file, 'TWO\n');
    chmodSync(file, 0o444);
    execFileSync('touch', ['-m', '-d', stamp, file]);
    const rewritten = statSync(file, { bigint: true });
    assert.deepEqual(
      [rewritten.mtimeNs, rewritten.size, rewritten.ino],
      [before.mtimeNs, before.size, before.ino],
    );

    const rerun = await cli(ws.dir, ['run', 'pipeline.yaml']);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stdout, /1 ran, 0 cached/);
    assert.equal(ws.read('runs/pipeline/three/out/b.txt'), 'two\n');
  });
});

describe('a sealed tree folder', () => {
  // More files than the memo of validated files keeps a manifest for (256 KiB), and a link.
  const FILES = 4000;
  const ws = makeWorkspace({
    'pipeline.yaml': `stages:
  many:
    cmd: mkdir out && for i in $(seq 1 ${FILES}); do echo "$i" > out/f$i.txt; done && ln -s f7.txt out/seven
    outs: [out]
`,
  });
  after(() => ws.remove());
  const run = async () => {
    const result = await cli(ws.dir, ['run', 'pipeline.yaml']);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout;
  };
  /** Runs until the tree is sealed: once, then again when the stat cache takes its objects (2 s). */
  const sealed = async () => {
    await run();
    await sleep(2100);
    assert.match(await run(), /0 ran, 1 cached/);
    const tree = onlyTree(ws);
    assert.match(String(sealOf(ws, tree)), /^[0-9a-f]{64}$/, 'the tree folder was not sealed');
    return tree;
  };
  const objectOf = (tree: string, rel: string) => {
    const manifest = JSON.parse(ws.read(join('cache/objects', tree.slice(0, 2), tree)));
    const digest = manifest.files.find((f: { path: string }) => f.path === rel).digest as string;
    return ws.path(join('cache/objects', digest.slice(0, 2), digest));
  };

  test('is recorded in the memo instead of its big manifest', async () => {
    const tree = await sealed();
    const manifest = ws.path(join('cache/objects', tree.slice(0, 2), tree));
    assert.ok(statSync(manifest).size > 256 << 10, 'the manifest is smaller than the test needs');
    assert.equal(memo()[manifest], undefined);
    assert.match(await run(), /0 ran, 1 cached/);
    assert.equal(ws.read('runs/pipeline/many/out/f4000.txt'), '4000\n');
  });

  test('an object removed from objects/ after the seal reruns the stage', async () => {
    const tree = await sealed();
    unlinkSync(objectOf(tree, 'out/f123.txt'));
    assert.match(await run(), /1 ran, 0 cached/);
    assert.equal(ws.read('runs/pipeline/many/out/f123.txt'), '123\n');
  });

  test('a damaged manifest object (same size) reruns the stage', async () => {
    const tree = await sealed();
    const manifest = ws.path(join('cache/objects', tree.slice(0, 2), tree));
    const text = readFileSync(manifest, 'utf8');
    chmodSync(manifest, 0o644);
    writeFileSync(manifest, text.replace('"out/f1.txt"', '"out/f9.txt"'));
    const rerun = await run();
    assert.match(rerun, /1 ran, 0 cached/);
    assert.equal(ws.read('runs/pipeline/many/out/f1.txt'), '1\n');
  });

  test('a link or a file replaced in the folder is put back from the objects', async () => {
    const tree = await sealed();
    const folder = ws.path(join('cache/trees', tree, 'out'));
    unlinkSync(join(folder, 'seven'));
    symlinkSync('f8.txt', join(folder, 'seven'));
    // Another inode with other bytes, renamed over the tree's file: the object itself is intact.
    writeFileSync(join(folder, 'new.tmp'), '999\n');
    renameSync(join(folder, 'new.tmp'), join(folder, 'f9.txt'));
    assert.match(await run(), /0 ran, 1 cached/);
    assert.equal(readlinkSync(ws.path('runs/pipeline/many/out/seven')), 'f7.txt');
    assert.equal(ws.read('runs/pipeline/many/out/f9.txt'), '9\n');
  });
});

describe("a stage's output folder becomes its tree's folder", () => {
  const objectOf = (ws: Workspace, tree: string, rel: string) => {
    const manifest = JSON.parse(ws.read(join('cache/objects', tree.slice(0, 2), tree)));
    const digest = manifest.files.find((f: { path: string }) => f.path === rel).digest as string;
    return ws.path(join('cache/objects', digest.slice(0, 2), digest));
  };

  test('each file is its object (twins share one), read-only; a run that finds the object damaged replaces it', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  twins:
    cmd: mkdir -p out/sub && echo same > out/a.txt && echo same > out/sub/b.txt && echo other > out/c.txt && ln -s a.txt out/link
    outs: [out]
`,
    });
    try {
      const first = await cli(ws.dir, ['run', 'pipeline.yaml']);
      assert.equal(first.code, 0, first.stderr);
      const tree = onlyTree(ws);
      const folder = ws.path(join('cache/trees', tree, 'out'));
      for (const rel of ['a.txt', 'sub/b.txt', 'c.txt']) {
        const file = statSync(join(folder, rel));
        assert.equal(file.ino, statSync(objectOf(ws, tree, `out/${rel}`)).ino, rel);
        assert.equal(file.mode & 0o777, 0o444, rel);
      }
      assert.equal(objectOf(ws, tree, 'out/a.txt'), objectOf(ws, tree, 'out/sub/b.txt'));
      assert.equal(readlinkSync(join(folder, 'link')), 'a.txt');
      assert.equal(ws.read('runs/pipeline/twins/out/sub/b.txt'), 'same\n');
      // Nothing of the stage is left in tmp/.
      assert.deepEqual(readdirSync(ws.path('cache/tmp')), []);

      // The object of "other\n" damaged (same size), then the stage forced: its new file replaces it.
      const damaged = objectOf(ws, tree, 'out/c.txt');
      chmodSync(damaged, 0o644);
      writeFileSync(damaged, 'OTHER\n');
      const forced = await cli(ws.dir, ['run', 'pipeline.yaml', '--force', 'twins']);
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(readFileSync(damaged, 'utf8'), 'other\n');
      assert.equal(ws.read('runs/pipeline/twins/out/c.txt'), 'other\n');
      assert.equal((await cli(ws.dir, ['verify'])).code, 0);
    } finally {
      ws.remove();
    }
  });

  test('an output folder its command made read-only is laid out from the objects; gc can remove it', async () => {
    const ws = makeWorkspace({
      'pipeline.yaml': `stages:
  locked:
    cmd: mkdir -p out/in && echo one > out/in/one.txt && chmod 555 out/in out
    outs: [out]
`,
    });
    try {
      const first = await cli(ws.dir, ['run', 'pipeline.yaml']);
      assert.equal(first.code, 0, first.stderr);
      const tree = onlyTree(ws);
      assert.equal(statSync(ws.path(join('cache/trees', tree, 'out/in'))).mode & 0o700, 0o700);
      assert.equal(ws.read('runs/pipeline/locked/out/in/one.txt'), 'one\n');
      assert.equal((await cli(ws.dir, ['verify'])).code, 0);
      // Unreferenced now: gc must be able to delete the tree's folders.
      writeFileSync(
        ws.path('pipeline.yaml'),
        'stages:\n  other:\n    cmd: echo x > x.txt\n    outs: [x.txt]\n',
      );
      assert.equal((await cli(ws.dir, ['run', 'pipeline.yaml'])).code, 0);
      const gc = await cli(ws.dir, ['gc']);
      assert.equal(gc.code, 0, gc.stderr);
      assert.ok(!readdirSync(ws.path('cache/trees')).includes(tree), 'gc left the tree');
    } finally {
      ws.remove();
    }
  });
});
