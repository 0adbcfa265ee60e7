// The seal of a tree folder (tree-seal.ts): the walk that checks a sealed folder shares its lstat
// calls with the tree thread; its seal must be the very one the sequential walk (which decides to
// seal) computed, and must still move when a file is rewritten in place with its mtime put back.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { walkTreeFolder } from '../../src/cache/tree-seal.ts';
import { SHARE_MIN } from '../../src/cache/tree-thread.ts';

const dir = mkdtempSync(join(tmpdir(), 'gpt2o-tree-seal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// More files than the main thread does alone, in subfolders (one of them empty), and a link.
const tree = join(dir, 'tree');
const manifest = join(dir, 'manifest.json');
writeFileSync(manifest, '{}');
mkdirSync(join(tree, 'out/sub/deeper'), { recursive: true });
mkdirSync(join(tree, 'out/empty'));
const FILES = SHARE_MIN + 500;
for (let i = 0; i < FILES; i++) {
  const folder = i % 3 === 0 ? 'out' : i % 3 === 1 ? 'out/sub' : 'out/sub/deeper';
  writeFileSync(join(tree, folder, `f${i}.txt`), `${i}\n`);
}
symlinkSync('f3.txt', join(tree, 'out/seven'));

/** The sequential walk: the one that sees every entry (and so does all the work on this thread). */
async function sequentialSeal(): Promise<{ seal: string; seen: string[] }> {
  const seen: string[] = [];
  const walked = await walkTreeFolder(tree, statSync(manifest), (rel, _stat, target) =>
    seen.push(target === undefined ? rel : `${rel} -> ${target}`),
  );
  assert.ok(walked);
  return { seal: walked.seal, seen };
}

test('the shared walk seals a folder exactly as the sequential walk does', async () => {
  const sequential = await sequentialSeal();
  assert.equal(sequential.seen.length, FILES + 1);
  assert.ok(sequential.seen.includes('out/seven -> f3.txt'));
  assert.ok(sequential.seen.includes('out/sub/deeper/f2.txt'));
  for (let round = 0; round < 3; round++) {
    const shared = await walkTreeFolder(tree, statSync(manifest));
    assert.equal(shared?.seal, sequential.seal, `round ${round}`);
  }
});

test('the shared walk sees a rewrite in place that keeps the size and the mtime, and a new empty folder', async () => {
  const before = (await walkTreeFolder(tree, statSync(manifest)))!.seal;
  // Same size, mtime put back with its nanoseconds (touch -d): only the ctime tells.
  const file = join(tree, 'out/sub/deeper/f1001.txt');
  const old = statSync(file, { bigint: true });
  writeFileSync(file, '9999\n');
  const ns = old.mtimeNs % 1_000_000_000n;
  execFileSync('touch', [
    '-m',
    '-d',
    `@${old.mtimeNs / 1_000_000_000n}.${ns.toString().padStart(9, '0')}`,
    file,
  ]);
  const now = statSync(file, { bigint: true });
  assert.deepEqual([now.size, now.mtimeNs, now.ino], [old.size, old.mtimeNs, old.ino]);
  const rewritten = (await walkTreeFolder(tree, statSync(manifest)))!.seal;
  assert.notEqual(rewritten, before);
  assert.equal(rewritten, (await sequentialSeal()).seal);

  mkdirSync(join(tree, 'out/sub/new-empty'));
  const withFolder = (await walkTreeFolder(tree, statSync(manifest)))!.seal;
  assert.notEqual(withFolder, rewritten);
  assert.equal(withFolder, (await sequentialSeal()).seal);
});

test('a folder that is not there has no seal', async () => {
  assert.equal(await walkTreeFolder(join(dir, 'nothing'), statSync(manifest)), undefined);
});
