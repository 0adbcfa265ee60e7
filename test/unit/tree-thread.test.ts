// The tree thread (tree-thread.ts) shares the per-file work of a big tree with the main thread:
// both take chunks of one list, and whatever the thread does not finish the main thread does. A
// big output stored that way must be what storing it file by file gives: each file its object's
// inode, read-only, under its content's digest, twins sharing one object.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hashFile } from '../../src/cache/hash.ts';
import { CacheStore } from '../../src/cache/store.ts';
import { storeOutputs } from '../../src/cache/tree-snapshot.ts';
import {
  FILE,
  lstatShared,
  SHARE_MIN,
  STAT_FIELDS,
  shareWork,
  treeThreadReady,
} from '../../src/cache/tree-thread.ts';

const dir = mkdtempSync(join(tmpdir(), 'gpt2o-tree-thread-'));
after(() => rmSync(dir, { recursive: true, force: true }));
before(async () => {
  // Loaded before the jobs start, so that it takes part in them (a job never waits for it).
  assert.equal(await treeThreadReady(), true, 'the tree thread did not start');
});

test('a job is shared: the thread does part of it, the main thread the rest, every entry once', async () => {
  const folder = join(dir, 'stat');
  mkdirSync(folder);
  const count = SHARE_MIN * 4;
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    names.push(`f${i}`);
    writeFileSync(join(folder, `f${i}`), 'x'.repeat(i % 7));
  }
  const stats = new Float64Array(new SharedArrayBuffer(count * STAT_FIELDS * 8));
  let here = 0;
  await shareWork(
    { kind: 'lstat', folders: [folder], folderOf: new Int32Array(count), names: names.join('\0'), stats },
    count,
    (from, to) => {
      // Slow on purpose, so the thread gets its share however fast it starts.
      const until = Date.now() + 2;
      while (Date.now() < until);
      for (let i = from; i < to; i++) {
        stats[i * STAT_FIELDS + 1] = -1;
        stats[i * STAT_FIELDS] = FILE;
        here++;
      }
    },
    (i) => stats[i * STAT_FIELDS] !== 0,
  );
  let byThread = 0;
  for (let i = 0; i < count; i++) {
    assert.equal(stats[i * STAT_FIELDS], FILE, `entry ${i}`);
    const size = stats[i * STAT_FIELDS + 1];
    if (size === -1) continue;
    byThread++;
    const stat = statSync(join(folder, names[i]!));
    assert.deepEqual(
      [size, stats[i * STAT_FIELDS + 2], stats[i * STAT_FIELDS + 3], stats[i * STAT_FIELDS + 4]],
      [stat.size, stat.mtimeMs, stat.ctimeMs, stat.ino],
    );
  }
  assert.ok(byThread > 0, 'the thread did no entry');
  assert.equal(byThread + here, count);
});

test('two jobs at once (two big folders) each get the lstat of every entry', async () => {
  const folders = ['one', 'two'].map((name) => {
    const folder = join(dir, `at-once-${name}`);
    mkdirSync(folder);
    for (let i = 0; i < SHARE_MIN + 100; i++) writeFileSync(join(folder, `${name}${i}`), name);
    return folder;
  });
  const listed = folders.map((folder) => readdirSync(folder));
  const results = await Promise.all(
    folders.map((folder, f) => lstatShared([folder], new Int32Array(listed[f]!.length), listed[f]!)),
  );
  for (const [f, stats] of results.entries())
    for (let i = 0; i < listed[f]!.length; i++) {
      const stat = statSync(join(folders[f]!, listed[f]![i]!));
      assert.equal(stats[i * STAT_FIELDS], FILE);
      assert.deepEqual([stats[i * STAT_FIELDS + 1], stats[i * STAT_FIELDS + 4]], [stat.size, stat.ino]);
    }
});

test('a big output is stored as file by file: each file its object, read-only, twins share one', async () => {
  const project = join(dir, 'project');
  const out = join(project, 'out');
  mkdirSync(join(out, 'sub'), { recursive: true });
  const count = SHARE_MIN * 2;
  const content = (i: number) => (i % 10 === 0 ? 'twin\n' : `${i}\n`);
  for (let i = 0; i < count; i++) writeFileSync(join(out, i % 2 ? 'sub' : '', `f${i}.txt`), content(i));
  writeFileSync(join(out, 'run.sh'), 'echo hi\n');
  chmodSync(join(out, 'run.sh'), 0o755);
  const store = CacheStore.open(join(dir, 'cache'));

  const stored = await storeOutputs(store, project, ['out'], 'big');
  assert.equal(stored.files, count + 1);
  const manifest = store.readManifest(stored.tree);
  assert.equal(manifest.files.length, count + 1);
  const folder = store.layout.tree(stored.tree);
  const xxh = async (text: string) => {
    const file = join(dir, 'probe');
    writeFileSync(file, text);
    return hashFile(file, Buffer.byteLength(text));
  };
  const twin = await xxh('twin\n');
  for (const file of manifest.files) {
    const inTree = statSync(join(folder, file.path));
    const object = statSync(store.layout.object(file.digest));
    assert.equal(inTree.ino, object.ino, file.path);
    assert.equal(inTree.mode & 0o777, file.path === 'out/run.sh' ? 0o555 : 0o444, file.path);
    const i = /f(\d+)\.txt$/.exec(file.path)?.[1];
    if (i !== undefined && Number(i) % 10 === 0) assert.equal(file.digest, twin, file.path);
  }
  const sample = manifest.files.find((f) => f.path === 'out/sub/f1001.txt')!;
  assert.equal(sample.digest, await xxh('1001\n'));
  assert.equal(manifest.files.find((f) => f.path === 'out/run.sh')?.exec, true);
  // Every distinct content is one object (the twins one), and the manifest is one more.
  const objects = readdirSync(store.layout.dir('objects')).flatMap((d) =>
    readdirSync(join(store.layout.dir('objects'), d)),
  );
  const twins = Math.ceil(count / 10);
  assert.equal(objects.length, count - twins + 1 + 1 + 1);
  assert.equal(statSync(store.layout.object(twin)).nlink, twins + 1);
  // Not the sha256 of anything: the digests are the store's own (xxh128, 32 hex digits).
  assert.notEqual(sample.digest, createHash('sha256').update('1001\n').digest('hex'));
});
