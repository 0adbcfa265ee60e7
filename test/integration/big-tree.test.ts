// Outputs with many files: an output with more identical files than the file system allows hard
// links to one inode (ext4: 65,000) is laid out with copies, and a cached run must take those
// copies for what they are, not rebuild the tree every time.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { cli, makeWorkspace } from '../helpers/workspace.ts';

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
